//! The rustls pieces that `smtp-tokio` and `smtp-blocking` share (each re-exports this
//! crate as its `tls` module): a server configuration from PEM files (the seed's
//! `ConfigureTLS`), and [`tls_info`], the parameters of a finished handshake for the
//! application.
//!
//! ```no_run
//! let config = smtp_tls::load_pem("cert.pem", "key.pem")?;
//! # Ok::<(), std::io::Error>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use smtp_proto::conn::TlsInfo;
use std::io;
use std::path::Path;
use std::sync::Arc;

/// A rustls server configuration from a PEM certificate chain (leaf first) and a PEM private
/// key (PKCS#8, PKCS#1 or SEC1), for the adapters' `Builder::tls`. Uses the process's
/// default crypto provider, or aws-lc-rs, with the safe default protocol versions.
pub fn load_pem(
    cert_path: impl AsRef<Path>,
    key_path: impl AsRef<Path>,
) -> io::Result<Arc<rustls::ServerConfig>> {
    let (cert_path, key_path) = (cert_path.as_ref(), key_path.as_ref());
    let context = |path: &Path| {
        let path = path.display().to_string();
        move |e| io::Error::new(io::ErrorKind::InvalidData, format!("{path}: {e}"))
    };
    let chain = CertificateDer::pem_file_iter(cert_path)
        .map_err(context(cert_path))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(context(cert_path))?;
    if chain.is_empty() {
        let e = format!("{}: no CERTIFICATE in the file", cert_path.display());
        return Err(io::Error::new(io::ErrorKind::InvalidData, e));
    }
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(context(key_path))?;
    server_config(chain, key)
}

/// A rustls server configuration for a certificate chain and its key, as [`load_pem`] makes.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> io::Result<Arc<rustls::ServerConfig>> {
    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    Ok(Arc::new(config))
}

/// What the application learns of a finished handshake: version, cipher suite and SNI name,
/// as rustls names them (`TLSv1_3`, `TLS13_AES_256_GCM_SHA384`).
pub fn tls_info(conn: &rustls::ServerConnection) -> TlsInfo {
    let version = conn
        .protocol_version()
        .unwrap_or(rustls::ProtocolVersion::Unknown(0));
    let cipher = conn
        .negotiated_cipher_suite()
        .map_or(rustls::CipherSuite::Unknown(0), |s| s.suite());
    let server_name = conn.server_name().map(str::to_owned);
    TlsInfo::new(format!("{version:?}"), format!("{cipher:?}"), server_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_files_round_trip_and_errors_name_the_file() {
        let dir = std::env::temp_dir().join(format!("smtp-tls-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, certified.cert.pem()).unwrap();
        std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
        assert!(load_pem(&cert, &key).is_ok());
        let e = load_pem(&key, &key).unwrap_err();
        assert!(e.to_string().contains("key.pem"), "{e}");
        let e = load_pem(&cert, dir.join("missing.pem")).unwrap_err();
        assert!(e.to_string().contains("missing.pem"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
