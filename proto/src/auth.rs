//! The secrets workers present: the shared bearer token in the `authorization` metadata,
//! and each worker's own credential (handed out by `Register`) in
//! [`WORKER_CREDENTIAL`].

use crate::data_transfer::Checksum;

/// The metadata key carrying the token.
pub const AUTHORIZATION: &str = "authorization";

/// The metadata key carrying a worker's own credential on every call after `Register`.
pub const WORKER_CREDENTIAL: &str = "hypersearch-worker-credential";

/// Length of a worker credential in hex digits (32 random bytes).
pub const CREDENTIAL_HEX_LEN: usize = 64;

/// A new worker credential: 32 bytes from the operating system's generator, as hex.
/// `None` only if the OS cannot give randomness.
pub fn new_credential() -> Option<String> {
    let mut bytes = [0u8; CREDENTIAL_HEX_LEN / 2];
    getrandom::fill(&mut bytes).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether `text` has the shape of a credential (64 lowercase hex digits).
pub fn is_credential(text: &str) -> bool {
    text.len() == CREDENTIAL_HEX_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// What the coordinator keeps of a credential: its SHA-256, so that a copy of the
/// database does not let anyone act as the worker.
pub fn credential_digest(credential: &str) -> Checksum {
    Checksum::of(credential.as_bytes())
}

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
    fn credentials_are_random_hex_and_kept_as_digests() {
        let a = new_credential().unwrap();
        let b = new_credential().unwrap();
        assert!(is_credential(&a) && is_credential(&b));
        assert_ne!(a, b);
        assert!(!is_credential(&a[1..]));
        assert!(!is_credential(&"A".repeat(CREDENTIAL_HEX_LEN)));
        assert_eq!(credential_digest(&a), credential_digest(&a.clone()));
        assert_ne!(credential_digest(&a), credential_digest(&b));
    }

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
