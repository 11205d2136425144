//! TLS identities for the catchers: PEM files, or a self-signed certificate made at start.

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io;
use std::path::Path;
use std::sync::Arc;

/// A certificate chain (leaf first) and its private key.
pub type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// Reads a PEM certificate chain (leaf first) and a PEM private key (PKCS#8, PKCS#1 or SEC1).
pub fn load_pem(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> io::Result<Identity> {
    let (cert, key) = (cert.as_ref(), key.as_ref());
    let context = |path: &Path| {
        let path = path.display().to_string();
        move |e| io::Error::new(io::ErrorKind::InvalidData, format!("{path}: {e}"))
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(context(cert))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(context(cert))?;
    if chain.is_empty() {
        let e = format!("{}: no CERTIFICATE in the file", cert.display());
        return Err(io::Error::new(io::ErrorKind::InvalidData, e));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(context(key))?;
    Ok((chain, key))
}

/// A fresh self-signed certificate for `names` (DNS names or IP addresses; `localhost` and
/// `127.0.0.1` are always added), made with rcgen. Clients must be told to trust it or not
/// to verify.
pub fn self_signed(names: &[&str]) -> io::Result<Identity> {
    let mut all: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    for extra in ["localhost", "127.0.0.1"] {
        if !all.iter().any(|n| n == extra) {
            all.push(extra.to_owned());
        }
    }
    let certified = rcgen::generate_simple_self_signed(all).map_err(io::Error::other)?;
    let key =
        PrivateKeyDer::try_from(certified.signing_key.serialize_der()).map_err(io::Error::other)?;
    Ok((vec![certified.cert.der().clone()], key))
}

/// A rustls server configuration for `identity`, with the process's default crypto provider
/// (aws-lc-rs unless the application installed another) and safe default protocol versions.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip() {
        let dir = std::env::temp_dir().join(format!("catcher-pem-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let c = rcgen::generate_simple_self_signed(vec!["mx.example".to_owned()]).unwrap();
        std::fs::write(dir.join("cert.pem"), c.cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), c.signing_key.serialize_pem()).unwrap();
        let (chain, key) = load_pem(dir.join("cert.pem"), dir.join("key.pem")).unwrap();
        assert_eq!(chain, vec![c.cert.der().clone()]);
        server_config(chain, key).unwrap();
        // The key file is not a certificate.
        let err = load_pem(dir.join("key.pem"), dir.join("key.pem")).unwrap_err();
        assert!(err.to_string().contains("no CERTIFICATE"), "{err}");
        assert!(load_pem(dir.join("missing.pem"), dir.join("key.pem")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn self_signed_is_usable() {
        let (chain, key) = self_signed(&["mx.example"]).unwrap();
        server_config(chain, key).unwrap();
    }
}
