//! The PEM files both sides of a TLS connection load (certificates, CAs, private keys),
//! checked when read so that a wrong file is one clear error naming it.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A PEM file that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub struct PemError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub problem: String,
}

impl PemError {
    /// An error about `path`.
    pub fn new(path: &Path, problem: impl Into<String>) -> Self {
        PemError {
            path: path.to_path_buf(),
            problem: problem.into(),
        }
    }
}

/// The bytes of the file `path`.
///
/// # Errors
/// [`PemError`] when it cannot be read.
pub fn read(path: &Path) -> Result<Vec<u8>, PemError> {
    std::fs::read(path).map_err(|err| PemError::new(path, format!("cannot read it: {err}")))
}

/// The certificates of the PEM text `pem` read from `path`: at least one, each well formed.
///
/// # Errors
/// [`PemError`] when the text is not PEM or holds no certificate.
pub fn certificates(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| PemError::new(path, format!("not a valid PEM certificate file: {err}")))?;
    if certs.is_empty() {
        return Err(PemError::new(
            path,
            "holds no certificate (expected a PEM `BEGIN CERTIFICATE` block)",
        ));
    }
    Ok(certs)
}

/// The CA certificates of the file `path` as a root store; returns the file's text.
///
/// # Errors
/// [`PemError`] when it cannot be read, holds no certificate, or one is not a usable CA.
pub fn certificate_authority(path: &Path) -> Result<Vec<u8>, PemError> {
    let pem = read(path)?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in certificates(path, &pem)? {
        roots
            .add(cert)
            .map_err(|err| PemError::new(path, format!("not a usable CA: {err}")))?;
    }
    Ok(pem)
}

/// The private key of the PEM text `pem` read from `path`.
///
/// # Errors
/// [`PemError`] when it holds no PKCS#8, PKCS#1 or SEC1 key.
pub fn private_key(path: &Path, pem: &[u8]) -> Result<PrivateKeyDer<'static>, PemError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|err| {
        PemError::new(
            path,
            format!("holds no usable private key (PKCS#8, PKCS#1 or SEC1 PEM): {err}"),
        )
    })
}

/// The crypto provider both sides use (ring: two providers compiled in make rustls panic).
pub fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_a_certificate_or_key_is_named() {
        let dir = std::env::temp_dir().join(format!("pem-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "not pem").unwrap();
        let err = certificates(&junk, b"not pem").unwrap_err();
        assert_eq!(err.path, junk);
        assert!(
            err.to_string().contains("junk.pem: holds no certificate"),
            "{err}"
        );
        let err = private_key(&junk, b"not pem").unwrap_err();
        assert!(err.problem.contains("no usable private key"), "{err}");
        let err = read(&dir.join("missing.pem")).unwrap_err();
        assert!(err.problem.starts_with("cannot read it"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
