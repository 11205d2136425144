//! TLS configuration from PEM files (the seed's `ConfigureTLS`).

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io;
use std::path::Path;
use std::sync::Arc;

/// A rustls server configuration from a PEM certificate chain (leaf first) and a PEM private
/// key (PKCS#8, PKCS#1 or SEC1), for [`Builder::tls`](crate::Builder::tls). Uses the process's
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
