//! TLS for the coordinator (rustls with the ring provider, through tonic's `tls-ring`):
//! its certificate chain and key, and optionally the CA that worker certificates must chain
//! to (mutual TLS). The PEM files are checked when they are loaded, so a wrong file is one
//! clear error at start rather than failed handshakes later.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use hypersearch_proto::pem::{self, PemError};
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use crate::Error;

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The coordinator's TLS identity and, for mutual TLS, the CA of its workers.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerTls {
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
    client_ca_pem: Option<Vec<u8>>,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the private key.
        f.debug_struct("ServerTls")
            .field("mutual", &self.client_ca_pem.is_some())
            .finish_non_exhaustive()
    }
}

fn tls_error(path: &Path, problem: impl Into<String>) -> Error {
    Error::Tls {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

impl From<PemError> for Error {
    fn from(err: PemError) -> Self {
        Error::Tls {
            path: err.path,
            problem: err.problem,
        }
    }
}

impl ServerTls {
    /// Loads the certificate chain `cert`, its private key `key` and, for mutual TLS, the CA
    /// `client_ca` that every worker's certificate must chain to.
    ///
    /// # Errors
    /// [`Error::Tls`] naming the file that cannot be read, holds no certificate or key, or
    /// whose key does not belong to the certificate.
    pub fn from_files(
        cert: &Path,
        key: &Path,
        client_ca: Option<&Path>,
    ) -> Result<ServerTls, Error> {
        let cert_pem = pem::read(cert)?;
        let key_pem = pem::read(key)?;
        let chain = pem::certificates(cert, &cert_pem)?;
        let private_key = pem::private_key(key, &key_pem)?;
        rustls::ServerConfig::builder_with_provider(pem::provider())
            .with_safe_default_protocol_versions()
            .map_err(|err| tls_error(cert, err.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, private_key)
            .map_err(|err| {
                tls_error(
                    key,
                    format!("does not fit the certificate {}: {err}", cert.display()),
                )
            })?;
        let client_ca_pem = client_ca.map(pem::certificate_authority).transpose()?;
        Ok(ServerTls {
            cert_pem,
            key_pem,
            client_ca_pem,
        })
    }

    /// Whether workers must present a certificate signed by the client CA.
    pub fn is_mutual(&self) -> bool {
        self.client_ca_pem.is_some()
    }

    /// tonic's server configuration.
    pub(crate) fn config(&self) -> ServerTlsConfig {
        let config = ServerTlsConfig::new()
            .identity(Identity::from_pem(&self.cert_pem, &self.key_pem))
            .timeout(HANDSHAKE_TIMEOUT);
        match &self.client_ca_pem {
            Some(ca) => config.client_ca_root(Certificate::from_pem(ca)),
            None => config,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pair(name: &str) -> (rcgen::Certificate, rcgen::KeyPair) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert, key)
    }

    #[test]
    fn a_matching_certificate_and_key_load() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = pair("localhost");
        let cert_path = dir.path().join("cert.pem");
        let key_path = dir.path().join("key.pem");
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        let tls = ServerTls::from_files(&cert_path, &key_path, Some(&cert_path)).unwrap();
        assert!(tls.is_mutual());
        assert!(!format!("{tls:?}").contains("PRIVATE"));
    }

    #[test]
    fn wrong_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = pair("localhost");
        let (_, other_key) = pair("elsewhere");
        let write = |name: &str, text: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let cert_path = write("cert.pem", cert.pem());
        let key_path = write("key.pem", key.serialize_pem());
        let other_key_path = write("other-key.pem", other_key.serialize_pem());
        let junk = write("junk.pem", "hello".into());
        let missing = dir.path().join("missing.pem");

        let err = ServerTls::from_files(&cert_path, &other_key_path, None).unwrap_err();
        assert!(
            err.to_string()
                .contains("other-key.pem: does not fit the certificate"),
            "{err}"
        );
        let err = ServerTls::from_files(&junk, &key_path, None).unwrap_err();
        assert!(
            err.to_string().contains("junk.pem: holds no certificate"),
            "{err}"
        );
        let err = ServerTls::from_files(&cert_path, &junk, None).unwrap_err();
        assert!(err.to_string().contains("no usable private key"), "{err}");
        let err = ServerTls::from_files(&cert_path, &key_path, Some(&missing)).unwrap_err();
        assert!(
            err.to_string().contains("missing.pem: cannot read"),
            "{err}"
        );
        let err = ServerTls::from_files(&cert_path, &key_path, Some(&junk)).unwrap_err();
        assert!(
            err.to_string().contains("junk.pem: holds no certificate"),
            "{err}"
        );
    }
}
