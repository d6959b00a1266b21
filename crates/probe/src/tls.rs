//! TLS for HTTPS checks: the two client configurations (verifying and not), the
//! verifier that accepts any certificate, server names, and reading the leaf
//! certificate's expiry. Redis checks over `rediss://` derive their configuration from
//! the verifying one (without ALPN) and read the expiry here too; `tls` monitors take
//! the certificate with the accepting one and judge it with the verifier afterwards.
//!
//! Both configurations use ring as the crypto provider, offer ALPN `http/1.1` only, and
//! have session resumption disabled: every check is a full handshake, so the
//! certificate is verified (and its expiry read) every time.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use jiff::Timestamp;
use rustls::client::Resumption;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::ProbeSetupError;

/// The two client configurations a prober uses, built once.
#[derive(Debug, Clone)]
pub(crate) struct TlsConfigs {
    /// Standard webpki verification against the root store.
    pub verified: Arc<ClientConfig>,
    /// Accepts any certificate (still checks handshake signatures).
    pub unverified: Arc<ClientConfig>,
    /// The verifying configuration's verifier on its own, for checks that take the
    /// certificate first and judge it afterwards (`tls` monitors).
    pub verifier: Arc<rustls::client::WebPkiServerVerifier>,
}

impl TlsConfigs {
    /// Builds both configurations. The trust store is the system's (falling back to the
    /// bundled webpki roots when the system has none) plus `extra_roots` (DER).
    pub(crate) fn build(extra_roots: &[Vec<u8>]) -> Result<Self, ProbeSetupError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());

        let mut roots = RootCertStore::empty();
        let (added, _ignored) = roots.add_parsable_certificates(system_roots().iter().cloned());
        if added == 0 {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for (index, der) in extra_roots.iter().enumerate() {
            roots
                .add(CertificateDer::from(der.as_slice()))
                .map_err(|e| ProbeSetupError::InvalidExtraRoot {
                    index,
                    reason: e.to_string(),
                })?;
        }

        let roots = Arc::new(roots);
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            roots.clone(),
            provider.clone(),
        )
        .build()
        .map_err(|e| ProbeSetupError::Tls(e.to_string()))?;
        let mut verified = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| ProbeSetupError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        finish(&mut verified);

        let any = AcceptAnyCertificate {
            algorithms: provider.signature_verification_algorithms,
        };
        let mut unverified = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ProbeSetupError::Tls(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(any))
            .with_no_client_auth();
        finish(&mut unverified);

        Ok(Self {
            verified: Arc::new(verified),
            unverified: Arc::new(unverified),
            verifier,
        })
    }
}

fn finish(cfg: &mut ClientConfig) {
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    cfg.resumption = Resumption::disabled();
}

/// The system trust store, loaded once per process (it is a few hundred files).
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::debug!(error = %e, "could not load part of the system trust store");
        }
        found.certs
    })
}

/// Accepts whatever certificate the server presents (for `verify_tls: false`), while
/// still checking that the handshake is signed by that certificate's key, with the
/// provider's algorithms.
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The TLS server name for a URL host: an IP address, or a DNS name. `None` when the
/// name is not acceptable to rustls.
pub(crate) fn server_name(host: &url::Host<&str>) -> Option<ServerName<'static>> {
    match host {
        url::Host::Ipv4(a) => Some(ServerName::IpAddress(IpAddr::V4(*a).into())),
        url::Host::Ipv6(a) => Some(ServerName::IpAddress(IpAddr::V6(*a).into())),
        url::Host::Domain(d) => ServerName::try_from(d.trim_end_matches('.').to_owned()).ok(),
    }
}

/// The `notAfter` of the certificate the server presented first (the leaf), if it can
/// be parsed.
pub(crate) fn leaf_not_after(conn: &ClientConnection) -> Option<Timestamp> {
    let leaf = conn.peer_certificates()?.first()?;
    not_after(leaf)
}

/// The `notAfter` of a DER certificate, if it parses.
pub(crate) fn not_after(der: &[u8]) -> Option<Timestamp> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Timestamp::from_second(cert.validity().not_after.timestamp()).ok()
}

/// Installs ring as the process-wide rustls provider unless one is installed already.
pub(crate) fn install_default_provider() {
    if CryptoProvider::get_default().is_none() {
        // Another thread may win the race; that is fine, whatever it installed stays.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_not_after_from_a_certificate() {
        let mut params = rcgen::CertificateParams::new(vec!["example.test".to_owned()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2031, 5, 17);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let ts = not_after(cert.der()).unwrap();
        assert_eq!(ts.to_string(), "2031-05-17T00:00:00Z");
        assert_eq!(not_after(b"not a certificate"), None);
    }

    #[test]
    fn server_names_from_url_hosts() {
        let u = url::Url::parse("https://127.0.0.1/").unwrap();
        assert!(matches!(
            server_name(&u.host().unwrap()),
            Some(ServerName::IpAddress(_))
        ));
        let u = url::Url::parse("https://[::1]/").unwrap();
        assert!(matches!(
            server_name(&u.host().unwrap()),
            Some(ServerName::IpAddress(_))
        ));
        let u = url::Url::parse("https://example.com./").unwrap();
        assert!(matches!(
            server_name(&u.host().unwrap()),
            Some(ServerName::DnsName(_))
        ));
    }

    #[test]
    fn refuses_a_garbage_extra_root() {
        let e = TlsConfigs::build(&[b"garbage".to_vec()]).unwrap_err();
        assert!(
            matches!(e, ProbeSetupError::InvalidExtraRoot { index: 0, .. }),
            "{e}"
        );
    }

    #[test]
    fn configs_offer_only_http11() {
        let c = TlsConfigs::build(&[]).unwrap();
        for cfg in [&c.verified, &c.unverified] {
            assert_eq!(cfg.alpn_protocols, vec![b"http/1.1".to_vec()]);
        }
    }
}
