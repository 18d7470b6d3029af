//! Who may look. A listener on loopback may stay open; beyond it the dashboard asks for the
//! study's token once, in the URL (`?token=`) or on a small login page, then keeps a session
//! cookie (HttpOnly, SameSite=Strict) derived from it. Every comparison is in constant time.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::Error;
use crate::api::App;

/// The cookie that carries a session.
const COOKIE: &str = "hypersearch_session";

/// A secret the browser must present; never shown by `Debug`.
#[derive(Clone)]
pub struct Token {
    digest: [u8; 32],
    session: String,
}

impl Token {
    /// The token `secret`.
    pub fn new(secret: &str) -> Token {
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let mut session = Sha256::new();
        session.update(b"hypersearch dashboard session\0");
        session.update(secret.as_bytes());
        let session = session
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Token { digest, session }
    }

    /// Whether `given` is the token (in constant time).
    pub fn matches(&self, given: &str) -> bool {
        let given: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        given.ct_eq(&self.digest).into()
    }

    /// Whether `cookie` is this token's session (in constant time).
    fn session_matches(&self, cookie: &str) -> bool {
        cookie.len() == self.session.len()
            && bool::from(cookie.as_bytes().ct_eq(self.session.as_bytes()))
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(hidden)")
    }
}

/// Who may look at the dashboard.
#[derive(Debug, Clone)]
pub enum Access {
    /// Anyone who can connect.
    Open,
    /// Whoever presents the token.
    Token(Token),
}

impl Access {
    /// The access a listener on `address` needs: open on loopback without a token, the
    /// token whenever one is given.
    ///
    /// # Errors
    /// [`Error::TokenNeeded`] beyond loopback without a token.
    pub fn for_address(address: Option<SocketAddr>, token: Option<&str>) -> Result<Access, Error> {
        match (token, address) {
            (Some(token), _) => Ok(Access::Token(Token::new(token))),
            (None, Some(address)) if !address.ip().is_loopback() => {
                Err(Error::TokenNeeded { address })
            }
            (None, _) => Ok(Access::Open),
        }
    }
}

/// The middleware that asks for the token: assets pass (the login page uses them), a valid
/// `?token=` sets the cookie and redirects to the same address without it, a valid cookie
/// passes, and anything else gets the login page (pages) or a 401 (the API).
pub async fn guard(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let Access::Token(token) = &app.access else {
        return next.run(request).await;
    };
    let path = request.uri().path().to_string();
    if path.starts_with("/assets/") {
        return next.run(request).await;
    }
    let query = request.uri().query().unwrap_or("");
    let (given, rest): (Vec<&str>, Vec<&str>) = query
        .split('&')
        .partition(|pair| pair.starts_with("token="));
    if let Some(given) = given.first().and_then(|pair| pair.strip_prefix("token=")) {
        if !token.matches(&percent_decoded(given)) {
            return login(
                StatusCode::UNAUTHORIZED,
                "That token is not the study's token.",
            );
        }
        let rest: Vec<&str> = rest.into_iter().filter(|pair| !pair.is_empty()).collect();
        let location = if rest.is_empty() {
            path
        } else {
            format!("{path}?{}", rest.join("&"))
        };
        let cookie = format!(
            "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
            token.session
        );
        return (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, location), (header::SET_COOKIE, cookie)],
        )
            .into_response();
    }
    if session(request.headers()).is_some_and(|cookie| token.session_matches(cookie)) {
        return next.run(request).await;
    }
    if path.starts_with("/api/") {
        return crate::api::ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this dashboard needs the study's token: open it with ?token=TOKEN once",
        )
        .into_response();
    }
    login(StatusCode::UNAUTHORIZED, "")
}

/// The session cookie's value, if the request has one.
fn session(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

/// The login page, with `problem` said above the form.
fn login(status: StatusCode, problem: &str) -> Response {
    let page = crate::assets::LOGIN.replace("{problem}", problem);
    (status, Html(page)).into_response()
}

/// `%XX` escapes and `+` decoded (what a form sends).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'+' => out.push(b' '),
            b'%' if at + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[at + 1..at + 3]).ok();
                match hex.and_then(|hex| u8::from_str_radix(hex, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        at += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        at += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_themselves_and_hide_in_debug() {
        let token = Token::new("s3cret");
        assert!(token.matches("s3cret"));
        assert!(!token.matches("s3cre"));
        assert!(token.session_matches(&token.session.clone()));
        assert!(!token.session_matches("s3cret"));
        assert_eq!(format!("{token:?}"), "Token(hidden)");
    }

    #[test]
    fn loopback_may_stay_open_but_not_beyond() {
        let here: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let there: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert!(matches!(
            Access::for_address(Some(here), None),
            Ok(Access::Open)
        ));
        assert!(matches!(
            Access::for_address(Some(there), None),
            Err(Error::TokenNeeded { .. })
        ));
        assert!(matches!(
            Access::for_address(Some(there), Some("t")),
            Ok(Access::Token(_))
        ));
    }

    #[test]
    fn form_encoding_is_decoded() {
        assert_eq!(percent_decoded("a%2Fb+c%"), "a/b c%");
    }
}
