//! The shared secret workers present: a bearer token in the `authorization` metadata.

use crate::data::Checksum;

/// The metadata key carrying the token.
pub const AUTHORIZATION: &str = "authorization";

/// The metadata value for `token`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The token inside an `authorization` metadata value, if it is a bearer token.
pub fn parse_bearer(value: &str) -> Option<&str> {
    value.strip_prefix("Bearer ")
}

/// Compares two secrets in time independent of their content: both are hashed to SHA-256
/// first, so neither where they differ nor their lengths leak through timing, and the
/// digests are compared with `subtle`'s constant-time equality.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    let (a, b) = (Checksum::of(a), Checksum::of(b));
    a.0.ct_eq(&b.0).into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bearer_round_trips() {
        assert_eq!(parse_bearer(&bearer("s3cret")), Some("s3cret"));
        assert_eq!(parse_bearer("Basic abc"), None);
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }
}
