//! TLS for the catchers: PEM files through `smtp-tls` (the adapters' own loader), or a
//! self-signed certificate made at start.

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io;
use std::sync::Arc;

pub use smtp_tls::{load_pem, server_config};

/// A certificate chain (leaf first) and its private key.
pub type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

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

/// A server configuration for a fresh [`self_signed`] certificate.
pub fn self_signed_config(names: &[&str]) -> io::Result<Arc<rustls::ServerConfig>> {
    let (chain, key) = self_signed(names)?;
    server_config(chain, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_is_usable_and_names_localhost() {
        let (chain, key) = self_signed(&["mx.example"]).unwrap();
        let der = chain[0].as_ref();
        for name in [&b"mx.example"[..], b"localhost"] {
            assert!(der.windows(name.len()).any(|w| w == name));
        }
        server_config(chain, key).unwrap();
    }
}
