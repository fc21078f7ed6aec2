//! TLS server settings shared by the HTTP/WebSocket listener and SIP over TLS: a PEM
//! certificate chain and private key, loaded once at start.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::rustls;

/// Why a certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read TLS {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("TLS certificate file {0} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    NoCertificate(PathBuf),
    #[error("TLS key file {0} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoKey(PathBuf),
    #[error("TLS certificate {cert} and key {key} cannot be used together: {message}")]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        message: String,
    },
}

/// Where a listener's certificate and key are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    /// Both set: TLS; both empty: none. One without the other is a configuration error the
    /// caller reports with its own key names.
    pub fn pair(cert: &Path, key: &Path) -> Result<Option<TlsFiles>, &'static str> {
        match (cert.as_os_str().is_empty(), key.as_os_str().is_empty()) {
            (true, true) => Ok(None),
            (false, false) => Ok(Some(TlsFiles {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
            })),
            _ => Err(
                "a TLS certificate needs its key and a key its certificate: set both or neither",
            ),
        }
    }

    /// Reads both files and builds the server side (TLS 1.2 and 1.3, ALPN `http/1.1` when
    /// `alpn_http` is set).
    pub fn server_config(&self, alpn_http: bool) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let read = |what, path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::Read {
                what,
                path: path.to_path_buf(),
                source,
            })
        };
        let cert_pem = read("certificate", &self.cert)?;
        let certs: Vec<_> = rustls_pemfile::certs(&mut cert_pem.as_slice())
            .filter_map(Result::ok)
            .collect();
        if certs.is_empty() {
            return Err(TlsError::NoCertificate(self.cert.clone()));
        }
        let key_pem = read("key", &self.key)?;
        let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
            .ok()
            .flatten()
            .ok_or_else(|| TlsError::NoKey(self.key.clone()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
            .map_err(|e| TlsError::Mismatch {
                cert: self.cert.clone(),
                key: self.key.clone(),
                message: e.to_string(),
            })?;
        if alpn_http {
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
        }
        Ok(Arc::new(config))
    }

    /// The acceptor for a listener.
    pub fn acceptor(&self, alpn_http: bool) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
        self.server_config(alpn_http)
            .map(tokio_rustls::TlsAcceptor::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn a_self_signed_pair_loads_and_bad_files_say_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = write(dir.path(), "c.pem", &ck.cert.pem());
        let key = write(dir.path(), "k.pem", &ck.key_pair.serialize_pem());
        let files = TlsFiles::pair(&cert, &key).unwrap().unwrap();
        files.server_config(true).unwrap();

        let swapped = TlsFiles {
            cert: key.clone(),
            key: cert.clone(),
        };
        let e = swapped.server_config(true).unwrap_err().to_string();
        assert!(e.contains("no PEM certificate"), "{e}");

        let other = rcgen::generate_simple_self_signed(vec!["other".into()]).unwrap();
        let other_key = write(dir.path(), "o.pem", &other.key_pair.serialize_pem());
        let e = TlsFiles {
            cert: cert.clone(),
            key: other_key,
        }
        .server_config(true)
        .unwrap_err()
        .to_string();
        assert!(e.contains("cannot be used together"), "{e}");

        let e = TlsFiles {
            cert: dir.path().join("missing.pem"),
            key,
        }
        .server_config(true)
        .unwrap_err()
        .to_string();
        assert!(e.contains("missing.pem"), "{e}");

        assert!(TlsFiles::pair(&cert, Path::new("")).is_err());
        assert_eq!(TlsFiles::pair(Path::new(""), Path::new("")).unwrap(), None);
    }
}
