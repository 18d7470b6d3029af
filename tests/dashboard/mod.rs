//! `hypersearch dashboard` and `--dashboard`: the JSON API over a real database served by
//! the real binary (read-only: the file is the same byte for byte afterwards), its refusals
//! (unknown study, port in use, beyond loopback without a token, a wrong token), and a real
//! headless Chromium watching a running study and timing a 100,000-trial study's page.

mod browser;
pub(crate) mod http;
mod webdriver;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::harness::{Proc, Scratch, assert_ok, assert_one_clear_error, path};

/// A study of the Branin function (no training, trials take microseconds).
fn function_study(dir: &Scratch, name: &str, trials: u32) -> PathBuf {
    dir.write(
        &format!("{name}.toml"),
        &format!(
            "[study]\nname = \"{name}\"\nmetric = \"value\"\ndirection = \"minimize\"\n\n\
             [objective]\nfunction = \"branin\"\n\n[search]\nalgorithm = \"random\"\n\
             trials = {trials}\nseed = 3\n\n[search.space]\nx1 = {{ float = [-5, 10] }}\n\
             x2 = {{ float = [0, 15] }}\n"
        ),
    )
}

/// A study whose every trial fails: it ends with nothing to draw.
fn failing_study(dir: &Scratch, name: &str) -> PathBuf {
    dir.write(
        &format!("{name}.toml"),
        &format!(
            "[study]\nname = \"{name}\"\nmetric = \"loss\"\ndirection = \"minimize\"\n\n\
             [objective]\ncommand = \"sh -c 'exit 3'\"\n\n[search]\nalgorithm = \"random\"\n\
             trials = 6\nseed = 1\n\n[search.space]\nx = {{ float = [0, 1] }}\n"
        ),
    )
}

/// Waits (at most 60 s) for the process's log to say `dashboard at URL`; returns the URL
/// without its trailing `/`.
fn dashboard_url(proc: &mut Proc) -> String {
    let started = Instant::now();
    loop {
        let text = proc.log_text();
        if let Some(url) = text.lines().find_map(|l| l.strip_prefix("dashboard at ")) {
            return url.trim().trim_end_matches('/').to_string();
        }
        if let Some(status) = proc.child.try_wait().expect("poll the process") {
            panic!("exited with {status} before serving the dashboard:{text}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no dashboard:{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `hypersearch dashboard --db DB --listen 127.0.0.1:0 EXTRA...`, once it serves.
pub(crate) fn dashboard(dir: &Scratch, db: &Path, extra: &[&str]) -> (Proc, String) {
    let mut args = vec!["dashboard", "--db", path(db), "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let mut proc = dir.spawn_logged(&args, "dashboard.log");
    let url = dashboard_url(&mut proc);
    (proc, url)
}

/// The database file's bytes and modification time.
fn fingerprint(db: &Path) -> (Vec<u8>, std::time::SystemTime) {
    let bytes = std::fs::read(db).expect("read the database");
    let modified = std::fs::metadata(db)
        .and_then(|meta| meta.modified())
        .expect("the database's mtime");
    (bytes, modified)
}

#[test]
fn the_api_serves_a_real_database_read_only_and_says_what_is_missing() {
    let dir = Scratch::new();
    let db = dir.path("trials.db");
    let config = function_study(&dir, "branin", 30);
    assert_ok(&dir.hs(
        &["run", path(&config), "--db", path(&db)],
        Duration::from_secs(120),
    ));
    let failing = failing_study(&dir, "nothing-yet");
    let failed = dir.hs(
        &["run", path(&failing), "--db", path(&db)],
        Duration::from_secs(120),
    );
    assert!(!failed.status.success(), "every trial failed");
    let before = fingerprint(&db);
    let (mut served, url) = dashboard(&dir, &db, &[]);

    let best = dir.hs_json(&["best", "--db", path(&db), "--study", "branin"]);
    let studies = http::get(&format!("{url}/api/studies")).json();
    let listed = studies["studies"]
        .as_array()
        .expect("a list")
        .iter()
        .find(|study| study["study"] == "branin")
        .expect("branin listed");
    assert_eq!(listed["complete"], 30);
    assert_eq!(listed["best_value"], best[0]["value"]);
    assert_eq!(listed["best_trial"], best[0]["trial"]);

    let study = http::get(&format!("{url}/api/studies/branin")).json();
    assert_eq!(study["trials"], 30);
    assert_eq!(study["history"]["complete"], 30);
    assert_eq!(study["params"]["columns"][0]["name"], "x1");
    assert_eq!(study["params"]["columns"][1]["name"], "x2");
    assert!(
        !study["timeline"]["lanes"]
            .as_array()
            .expect("lanes")
            .is_empty()
    );
    // One objective: no Pareto panel, and the front's route says why.
    assert_eq!(study["objectives"], serde_json::json!([]));
    let pareto = http::get(&format!("{url}/api/studies/branin/pareto"));
    assert_eq!(pareto.status, 422, "{}", pareto.body);
    assert!(pareto.body.contains("has one objective"), "{}", pareto.body);

    // An empty study is a payload that says there is nothing yet, not an error.
    let empty = http::get(&format!("{url}/api/studies/nothing-yet"));
    assert_eq!(empty.status, 200, "{}", empty.body);
    let empty = empty.json();
    assert_eq!(empty["history"]["complete"], 0);
    assert_eq!(empty["history"]["numbers"], serde_json::json!([]));
    assert_eq!(empty["curves"]["bands"], serde_json::json!([]));
    assert_eq!(empty["summary"]["complete"], 0);
    assert!(
        empty["summary"]["failed"].as_u64() > Some(0),
        "{}",
        empty["summary"]
    );

    let unknown = http::get(&format!("{url}/api/studies/nope"));
    assert_eq!(unknown.status, 404);
    let message = unknown.json()["error"].as_str().unwrap_or("").to_string();
    assert!(message.contains("nope"), "{message}");
    assert_eq!(
        http::get(&format!("{url}/api/studies/branin/trials/999")).status,
        404
    );

    let by_value = http::get(&format!(
        "{url}/api/studies/branin/trials?sort=value&limit=5"
    ))
    .json();
    assert_eq!(by_value["matching"], 30);
    assert_eq!(by_value["rows"].as_array().map(Vec::len), Some(5));
    assert_eq!(by_value["rows"][0]["number"], best[0]["trial"]);
    let jumped = http::get(&format!("{url}/api/studies/branin/trials?limit=10&jump=25")).json();
    assert_eq!(
        (jumped["offset"].as_u64(), jumped["found"].as_bool()),
        (Some(20), Some(true))
    );
    let none = http::get(&format!("{url}/api/studies/branin/trials?state=failed")).json();
    assert_eq!(none["matching"], 0);
    assert_eq!(
        http::get(&format!("{url}/api/studies/branin/trials?state=lost")).status,
        400
    );

    let trial = http::get(&format!(
        "{url}/api/studies/branin/trials/{}",
        best[0]["trial"]
    ))
    .json();
    assert_eq!(trial["value"], best[0]["value"]);
    let rerun = trial["rerun"][0].as_str().unwrap_or("");
    assert!(rerun.starts_with("hypersearch train --trial"), "{rerun}");

    // Importance is the command's, number for number.
    let importance = http::get(&format!("{url}/api/studies/branin/importance"));
    assert_eq!(importance.status, 200, "{}", importance.body);
    let command = dir.hs_json(&["importance", "--db", path(&db), "--study", "branin"]);
    assert_eq!(importance.json(), command);
    let too_few = http::get(&format!("{url}/api/studies/nothing-yet/importance"));
    assert_eq!(too_few.status, 422, "{}", too_few.body);
    assert!(
        too_few.json()["error"]
            .as_str()
            .unwrap_or("")
            .contains("at least 10 complete trials")
    );
    // A study without learning curves has nothing to replay: it says so.
    let replay = http::get(&format!("{url}/api/studies/branin/replay?rule=median"));
    assert_eq!(replay.status, 422, "{}", replay.body);
    assert!(
        replay.json()["error"]
            .as_str()
            .unwrap_or("")
            .contains("nothing to replay")
    );
    let compared = http::get(&format!("{url}/api/compare?a=branin&b=nothing-yet"));
    assert_eq!(compared.status, 200, "{}", compared.body);

    let page = http::get(&format!("{url}/study/branin"));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("/assets/app.js"), "{}", page.body);
    assert_eq!(http::get(&format!("{url}/nowhere")).status, 404);
    let chart = http::get(&format!("{url}/assets/uPlot.iife.min.js"));
    assert_eq!(chart.status, 200);
    assert!(
        chart
            .header("content-type")
            .is_some_and(|kind| kind.contains("javascript"))
    );

    // The event stream greets a page at once.
    let address = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream
        .write_all(format!("GET /api/events HTTP/1.1\r\nHost: {address}\r\n\r\n").as_bytes())
        .expect("ask for events");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a timeout");
    let mut seen = Vec::new();
    let mut buffer = [0u8; 512];
    while !String::from_utf8_lossy(&seen).contains("event: hello") {
        let read = stream.read(&mut buffer).expect("read events");
        assert!(
            read > 0,
            "the stream ended: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buffer[..read]);
    }
    assert!(String::from_utf8_lossy(&seen).contains("text/event-stream"));

    served.kill();
    let after = fingerprint(&db);
    assert!(before.0 == after.0, "the dashboard changed the database");
    assert_eq!(before.1, after.1, "the dashboard touched the database");
}

#[test]
fn the_dashboard_refuses_a_port_in_use_and_an_open_address_without_a_token_in_one_line() {
    let dir = Scratch::new();
    let db = dir.path("trials.db");
    let config = function_study(&dir, "small", 3);
    assert_ok(&dir.hs(
        &["run", path(&config), "--db", path(&db)],
        Duration::from_secs(120),
    ));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = taken.local_addr().expect("its address").to_string();
    let limit = Duration::from_secs(30);
    let in_use = dir.hs(
        &["dashboard", "--db", path(&db), "--listen", &address],
        limit,
    );
    assert_one_clear_error(&in_use, &["cannot listen on", &address]);
    let open = dir.hs(
        &["dashboard", "--db", path(&db), "--listen", "0.0.0.0:0"],
        limit,
    );
    assert_one_clear_error(&open, &["refusing", "--token-file"]);
    let missing = dir.path("missing.db");
    let absent = dir.hs(&["dashboard", "--db", path(&missing)], limit);
    assert_one_clear_error(&absent, &["missing.db"]);
    let more = function_study(&dir, "more", 3);
    let run = dir.hs(
        &[
            "run",
            path(&more),
            "--db",
            path(&db),
            "--dashboard",
            &address,
        ],
        Duration::from_secs(60),
    );
    assert!(!run.status.success(), "run with its dashboard port in use");
    let err = crate::harness::stderr(&run);
    assert!(
        err.contains("cannot listen on") && err.contains(&address),
        "{err}"
    );
    drop(taken);
}

#[test]
fn beyond_loopback_the_dashboard_asks_for_the_token_once_then_keeps_a_cookie() {
    let dir = Scratch::new();
    let db = dir.path("trials.db");
    let config = function_study(&dir, "guarded", 3);
    assert_ok(&dir.hs(
        &["run", path(&config), "--db", path(&db)],
        Duration::from_secs(120),
    ));
    let token = dir.write("token.txt", "s3cret-token\n");
    let mut proc = dir.spawn_logged(
        &[
            "dashboard",
            "--db",
            path(&db),
            "--listen",
            "0.0.0.0:0",
            "--token-file",
            path(&token),
        ],
        "dashboard.log",
    );
    let url = dashboard_url(&mut proc);
    assert!(
        !proc.log_text().contains("s3cret"),
        "the token is not printed"
    );
    let port = url.rsplit(':').next().expect("a port");
    let url = format!("http://127.0.0.1:{port}");

    let api = http::get(&format!("{url}/api/studies"));
    assert_eq!(api.status, 401);
    assert!(api.json()["error"].as_str().unwrap_or("").contains("token"));
    let page = http::get(&format!("{url}/"));
    assert_eq!(page.status, 401);
    assert!(
        page.body.contains(r#"name="token""#),
        "a login form: {}",
        page.body
    );
    let wrong = http::get(&format!("{url}/?token=guess"));
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("not the study's token"));
    assert_eq!(http::get(&format!("{url}/assets/style.css")).status, 200);

    let right = http::get(&format!("{url}/study/guarded?token=s3cret-token&live=0"));
    assert_eq!(right.status, 303);
    assert_eq!(right.header("location"), Some("/study/guarded?live=0"));
    let cookie = right.header("set-cookie").expect("a cookie").to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("s3cret"), "the cookie is not the token");
    let session = cookie.split(';').next().expect("name=value");
    let with = http::request(
        "GET",
        &format!("{url}/api/studies"),
        None,
        &[("Cookie", session)],
    );
    assert_eq!(with.status, 200, "{}", with.body);
    let forged = http::request(
        "GET",
        &format!("{url}/api/studies"),
        None,
        &[("Cookie", "hypersearch_session=0000")],
    );
    assert_eq!(forged.status, 401);
}

#[test]
fn serve_shows_its_study_on_the_dashboard_it_was_asked_for() {
    let dir = Scratch::new();
    let db = dir.path("trials.db");
    let config = function_study(&dir, "served", 5);
    let mut serve = dir.spawn_logged(
        &[
            "serve",
            path(&config),
            "--listen",
            "127.0.0.1:0",
            "--db",
            path(&db),
            "--dashboard",
            "127.0.0.1:0",
        ],
        "serve.log",
    );
    let url = dashboard_url(&mut serve);
    // The queued trials reach the database through the store's writer, which batches its
    // inserts: on a loaded machine the first answer can come before they do.
    let deadline = Instant::now() + Duration::from_secs(30);
    let studies = loop {
        let studies = http::get(&format!("{url}/api/studies")).json();
        let queued = studies["studies"][0]["queued"].as_u64().unwrap_or(0);
        if queued > 0 || Instant::now() > deadline {
            break studies;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(studies["studies"][0]["study"], "served");
    assert_eq!(
        studies["studies"][0]["queued"].as_u64().map(|n| n > 0),
        Some(true),
        "{studies}"
    );
    serve.kill();
}
