//! TLS to PostgreSQL with rustls, configured the libpq way through the URL's `sslmode`:
//! `disable`; `prefer` (the default) and `require`, encrypted without verifying the server
//! (as libpq does); `verify-ca`, the certificate chain checked against `sslrootcert`;
//! `verify-full`, the chain and the host name checked. TLS applies to TCP connections only:
//! PostgreSQL does not use it on unix sockets.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::Error;

/// How a connection protects itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TlsMode {
    /// No TLS.
    Disable,
    /// TLS when the server offers it (`prefer`) or always (`require`), server not verified.
    Unverified,
    /// TLS, the server's certificate chain verified against these roots.
    VerifyCa(PathBuf),
    /// TLS, chain and host name verified against these roots.
    VerifyFull(PathBuf),
}

/// Takes the libpq TLS settings tokio-postgres does not know out of a database URL: returns
/// the URL tokio-postgres can parse (with `sslmode` at most `require`) and the mode.
pub(crate) fn split_url(url: &str) -> Result<(String, TlsMode), Error> {
    let config_error = |message: String| Error::Config { message };
    let is_url = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let (head, query) = match url.split_once('?') {
        Some((head, query)) if is_url => (head, query),
        _ => {
            if !is_url
                && (url.contains("verify-full")
                    || url.contains("verify-ca")
                    || url.contains("sslrootcert"))
            {
                return Err(config_error(
                    "sslmode=verify-ca/verify-full and sslrootcert are supported in the postgresql:// URL form only".to_owned(),
                ));
            }
            let mode = if url.contains("sslmode=disable") {
                TlsMode::Disable
            } else {
                TlsMode::Unverified
            };
            return Ok((url.to_owned(), mode));
        }
    };
    let mut sslmode = None;
    let mut root = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", value)) => sslmode = Some(value.to_owned()),
            Some(("sslrootcert", value)) => root = Some(PathBuf::from(percent_decode(value))),
            _ => kept.push(pair.to_owned()),
        }
    }
    let (mode, parsed_mode) = match sslmode.as_deref() {
        None | Some("prefer") | Some("allow") => (TlsMode::Unverified, "prefer"),
        Some("disable") => (TlsMode::Disable, "disable"),
        Some("require") => (TlsMode::Unverified, "require"),
        Some(verify @ ("verify-ca" | "verify-full")) => {
            let root = root.ok_or_else(|| {
                config_error(format!(
                    "sslmode={verify} needs sslrootcert=<file of the CA certificates to trust>"
                ))
            })?;
            let mode = if verify == "verify-ca" {
                TlsMode::VerifyCa(root)
            } else {
                TlsMode::VerifyFull(root)
            };
            (mode, "require")
        }
        Some(other) => {
            return Err(config_error(format!(
                "sslmode={other:?} is not one of disable, allow, prefer, require, verify-ca, verify-full"
            )));
        }
    };
    kept.push(format!("sslmode={parsed_mode}"));
    Ok((format!("{head}?{}", kept.join("&")), mode))
}

/// The rustls connector of `mode`; `None` for `disable`.
pub(crate) fn connector(mode: &TlsMode) -> Result<Option<MakeRustlsConnect>, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|err| Error::Config {
            message: format!("TLS setup failed: {err}"),
        })?;
    let config = match mode {
        TlsMode::Disable => return Ok(None),
        TlsMode::Unverified => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unverified(provider)))
            .with_no_client_auth(),
        TlsMode::VerifyFull(root) => builder
            .with_root_certificates(roots(root)?)
            .with_no_client_auth(),
        TlsMode::VerifyCa(root) => {
            let chain =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots(root)?), provider)
                    .build()
                    .map_err(|err| Error::Config {
                        message: format!("TLS setup failed: {err}"),
                    })?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainOnly(chain)))
                .with_no_client_auth()
        }
    };
    Ok(Some(MakeRustlsConnect::new(config)))
}

fn roots(path: &Path) -> Result<RootCertStore, Error> {
    let config_error = |reason: String| Error::Config {
        message: format!("sslrootcert {}: {reason}", path.display()),
    };
    let mut store = RootCertStore::empty();
    let certificates =
        CertificateDer::pem_file_iter(path).map_err(|err| config_error(err.to_string()))?;
    for certificate in certificates {
        let certificate = certificate.map_err(|err| config_error(err.to_string()))?;
        store
            .add(certificate)
            .map_err(|err| config_error(err.to_string()))?;
    }
    if store.is_empty() {
        return Err(config_error("holds no PEM certificate".to_owned()));
    }
    Ok(store)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = text
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `prefer`/`require`: encryption without verification, as libpq does.
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted root; the host name is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            // The chain verified; only the name did not match, which verify-ca allows.
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_modes_are_mapped_and_taken_out_of_the_url() {
        let (url, mode) = split_url("postgresql://a@h/db?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=x").unwrap();
        assert_eq!(
            (url.as_str(), mode),
            (
                "postgresql://a@h/db?application_name=x&sslmode=require",
                TlsMode::VerifyFull("/etc/ca.pem".into())
            )
        );
        assert_eq!(
            split_url("postgresql://a@h/db?sslmode=verify-ca&sslrootcert=ca.pem")
                .unwrap()
                .1,
            TlsMode::VerifyCa("ca.pem".into())
        );
        assert_eq!(
            split_url("postgresql://a@h/db?sslmode=disable").unwrap().1,
            TlsMode::Disable
        );
        assert_eq!(
            split_url("postgresql://a@h/db").unwrap(),
            ("postgresql://a@h/db".to_owned(), TlsMode::Unverified)
        );
        assert_eq!(
            split_url("host=h sslmode=disable").unwrap().1,
            TlsMode::Disable
        );
        for (bad, expected) in [
            (
                "postgresql://a@h/db?sslmode=verify-full",
                "needs sslrootcert",
            ),
            ("postgresql://a@h/db?sslmode=bogus", "is not one of"),
            (
                "host=h sslmode=verify-full sslrootcert=ca.pem",
                "URL form only",
            ),
        ] {
            let err = split_url(bad).unwrap_err().to_string();
            assert!(err.contains(expected), "{bad}: {err}");
        }
    }
}
