//! TLS for the worker (rustls with the ring provider, through tonic's `tls-ring`): which CA
//! to trust for the coordinator's certificate, and the worker's own certificate for mutual
//! TLS. The PEM files are checked when loaded; a handshake the coordinator's certificate
//! fails is an error at once rather than a retry.

use std::fmt;
use std::path::Path;

use hypersearch_proto::pem::{self, PemError};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

use crate::Error;

/// How the worker authenticates the coordinator, and itself.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct ClientTls {
    /// The CA that signed the coordinator's certificate; the system's roots when `None`.
    ca_pem: Option<Vec<u8>>,
    /// The worker's certificate chain and key, for a coordinator that requires them.
    identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the private key.
        f.debug_struct("ClientTls")
            .field("custom_ca", &self.ca_pem.is_some())
            .field("client_certificate", &self.identity.is_some())
            .finish()
    }
}

fn tls_file_error(path: &Path, problem: impl Into<String>) -> Error {
    Error::TlsFile {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

impl From<PemError> for Error {
    fn from(err: PemError) -> Self {
        Error::TlsFile {
            path: err.path,
            problem: err.problem,
        }
    }
}

impl ClientTls {
    /// Trusts the CA in `ca` (the system's roots when `None`) and, with `identity` (a
    /// certificate chain file and its key file), presents that certificate.
    ///
    /// # Errors
    /// [`Error::TlsFile`] naming a file that cannot be read, holds no certificate or key,
    /// or whose key does not belong to the certificate.
    pub fn from_files(ca: Option<&Path>, identity: Option<(&Path, &Path)>) -> Result<Self, Error> {
        let ca_pem = ca.map(pem::certificate_authority).transpose()?;
        let identity = identity
            .map(|(cert, key)| {
                let (cert_pem, key_pem) = (pem::read(cert)?, pem::read(key)?);
                let chain = pem::certificates(cert, &cert_pem)?;
                let private_key = pem::private_key(key, &key_pem)?;
                rustls::ClientConfig::builder_with_provider(pem::provider())
                    .with_safe_default_protocol_versions()
                    .map_err(|err| tls_file_error(cert, err.to_string()))?
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_client_auth_cert(chain, private_key)
                    .map_err(|err| {
                        tls_file_error(
                            key,
                            format!("does not fit the certificate {}: {err}", cert.display()),
                        )
                    })?;
                Ok::<_, Error>((cert_pem, key_pem))
            })
            .transpose()?;
        Ok(ClientTls { ca_pem, identity })
    }

    /// Whether the worker presents a certificate of its own.
    pub fn has_identity(&self) -> bool {
        self.identity.is_some()
    }

    /// tonic's client configuration.
    pub(crate) fn config(&self) -> ClientTlsConfig {
        let config = ClientTlsConfig::new();
        let config = match &self.ca_pem {
            Some(ca) => config.ca_certificate(Certificate::from_pem(ca)),
            None => config.with_native_roots(),
        };
        match &self.identity {
            Some((cert, key)) => config.identity(Identity::from_pem(cert, key)),
            None => config,
        }
    }
}

/// The paths of a worker's certificate and key, as a pair if both are given.
///
/// # Errors
/// [`Error::TlsFile`] when only one of the two is given.
pub fn identity_pair<'a>(
    cert: Option<&'a Path>,
    key: Option<&'a Path>,
) -> Result<Option<(&'a Path, &'a Path)>, Error> {
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some((cert, key))),
        (None, None) => Ok(None),
        (Some(path), None) | (None, Some(path)) => Err(tls_file_error(
            path,
            "a client certificate needs both --tls-cert and --tls-key",
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn files_are_checked_when_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["worker".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let other = rcgen::KeyPair::generate().unwrap();
        let write = |name: &str, text: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let cert_path = write("cert.pem", cert.pem());
        let key_path = write("key.pem", key.serialize_pem());
        let other_path = write("other.pem", other.serialize_pem());
        let junk = write("junk.pem", "not pem".into());

        let tls = ClientTls::from_files(Some(&cert_path), Some((&cert_path, &key_path))).unwrap();
        assert!(!format!("{tls:?}").contains("PRIVATE"));
        let err = ClientTls::from_files(Some(&junk), None).unwrap_err();
        assert!(
            err.to_string().contains("junk.pem: holds no certificate"),
            "{err}"
        );
        let err = ClientTls::from_files(None, Some((&cert_path, &other_path))).unwrap_err();
        assert!(err.to_string().contains("other.pem: does not fit"), "{err}");
        let err = identity_pair(Some(&cert_path), None).unwrap_err();
        assert!(err.to_string().contains("--tls-key"), "{err}");
    }
}
