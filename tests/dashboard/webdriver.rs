//! A headless Chromium driven through chromedriver's WebDriver protocol (JSON over HTTP):
//! open a page, run a script in it, wait for a condition, save a screenshot. Chromium and
//! chromedriver are Debian's `chromium` and `chromium-driver`, which ./test.sh installs.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::http;

/// A browser session; the browser and its driver end with it.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a window of 1400 x 2000 pixels.
    pub fn start() -> Browser {
        let chromedriver = crate::harness::tool("chromedriver", "chromium and chromium-driver");
        let chromium = crate::harness::tool("chromium", "chromium and chromium-driver");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|free| free.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().expect("a browser profile directory");
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1400,2000",
                         format!("--user-data-dir={}", profile.path().display())],
            },
        }}});
        let mut browser = Browser {
            driver,
            base,
            session: String::new(),
            _profile: profile,
        };
        let created = browser.call("POST", "/session", Some(capabilities));
        browser.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_string();
        browser
    }

    /// A WebDriver command; returns its `value`.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|body| body.to_string());
        let response = http::request(
            method,
            &format!("{}{path}", self.base),
            body.as_deref(),
            &[],
        );
        let mut answer = response.json();
        assert!(
            response.status == 200,
            "WebDriver {method} {path}: {} {answer}",
            response.status
        );
        answer
            .get_mut("value")
            .map(Value::take)
            .unwrap_or(Value::Null)
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Opens `url` and waits for the page to load.
    pub fn open(&self, url: &str) {
        self.call(
            "POST",
            &self.session_path("/url"),
            Some(json!({"url": url})),
        );
    }

    /// Runs `script` (a function body; `return` gives the value) in the page.
    pub fn eval(&self, script: &str) -> Value {
        self.call(
            "POST",
            &self.session_path("/execute/sync"),
            Some(json!({"script": script, "args": []})),
        )
    }

    /// Waits (at most `limit`) for `script` to return something other than null or false;
    /// returns it.
    pub fn wait_for(&self, script: &str, limit: Duration, what: &str) -> Value {
        let started = Instant::now();
        loop {
            let value = self.eval(script);
            if !matches!(value, Value::Null | Value::Bool(false)) {
                return value;
            }
            if started.elapsed() > limit {
                let text = self.eval("return document.body.innerText.slice(0, 2000)");
                panic!("waited {limit:?} for {what}; the page says:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for the dashboard's view to be drawn (`<body data-ready>`).
    pub fn wait_ready(&self) {
        self.wait_for(
            "return document.body.dataset.ready === '1'",
            Duration::from_secs(30),
            "the view to be drawn",
        );
    }

    /// Drags the mouse over the element `selector` from `from` to `to`, offsets in CSS
    /// pixels from the element's top left corner.
    pub fn drag(&self, selector: &str, from: (f64, f64), to: (f64, f64)) {
        let found = self.call(
            "POST",
            &self.session_path("/element"),
            Some(json!({"using": "css selector", "value": selector})),
        );
        let size = self.eval(&format!(
            "const r = document.querySelector('{selector}').getBoundingClientRect(); \
             return [r.width, r.height]"
        ));
        let (width, height) = (
            size[0].as_f64().unwrap_or(0.0),
            size[1].as_f64().unwrap_or(0.0),
        );
        // WebDriver's offsets are from the element's centre.
        let at = |(x, y): (f64, f64)| {
            json!({"type": "pointerMove", "duration": 100, "origin": found,
                   "x": (x - width / 2.0).round() as i64, "y": (y - height / 2.0).round() as i64})
        };
        let actions = json!({"actions": [{"type": "pointer", "id": "mouse",
            "parameters": {"pointerType": "mouse"},
            "actions": [at(from), {"type": "pointerDown", "button": 0}, at(to),
                        {"type": "pointerUp", "button": 0}]}]});
        self.call("POST", &self.session_path("/actions"), Some(actions));
    }

    /// Saves a PNG screenshot of the window to `path`.
    pub fn screenshot(&self, path: &Path) {
        let encoded = self.call("GET", &self.session_path("/screenshot"), None);
        let png = http::base64(encoded.as_str().expect("base64 text"));
        assert_eq!(&png[..4], b"\x89PNG", "a PNG screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("the screenshot directory");
        }
        std::fs::write(path, png).expect("write the screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = self.session_path("");
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                http::request("DELETE", &format!("{}{path}", self.base), None, &[])
            }));
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
