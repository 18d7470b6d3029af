//! The shared secret workers present: a bearer token in the `authorization` metadata.

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

/// Compares two secrets in time independent of where they differ (only their lengths leak).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimizer from turning the fold into an early-exit comparison.
    std::hint::black_box(difference) == 0
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
