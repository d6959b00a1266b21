//! The one place where transport failures become an [`ErrorKind`] and a message.
//!
//! Probes record what went wrong as a [`Failure`] (which phase was under way, and the
//! raw error met there); [`classify`] turns it into the kind and the words users see.
//! The rules, in order of the phases of a check:
//!
//! | what happened                                             | kind        |
//! |-----------------------------------------------------------|-------------|
//! | the name did not resolve (NXDOMAIN, resolver failure)     | `Dns`       |
//! | it resolved only to addresses the guard refuses           | `Dns`       |
//! | connection refused, unreachable, reset while connecting   | `Connect`   |
//! | TLS handshake or certificate problem (also a TLS alert later) | `Tls`   |
//! | the check's deadline passed, whatever the phase           | `Timeout`   |
//! | malformed HTTP, connection closed or reset after connect, too many redirects, unusable `Location` | `Protocol` |
//!
//! `Status` and `Assertion` never come from here: once a response is in hand, the
//! verdict is core's [`vigilmon_core::assert::evaluate_http`] /
//! [`vigilmon_core::assert::evaluate_tcp`] / [`vigilmon_core::redis::evaluate`]. (What
//! a Redis server answers before `INFO` — a refused `AUTH` or `SELECT`, `LOADING` — is
//! named by the Redis check itself.)

use std::error::Error as StdError;
use std::fmt::Write as _;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rustls::CertificateError;
use vigilmon_core::{ErrorKind, HumanDuration};

/// What the probe was doing when a check failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Resolve,
    Connect,
    TlsHandshake,
    /// Sending the HTTP request and waiting for the response head.
    FirstByte,
    ReadBody,
    /// Writing the TCP check's `send` bytes.
    Send,
    /// Reading from a TCP peer, waiting for its banner.
    Banner,
    /// A step of a protocol of its own, in words ("waiting for CONNACK").
    Exchange(&'static str),
}

impl Phase {
    /// The phase as it reads after "while".
    pub(crate) fn doing(self) -> &'static str {
        match self {
            Phase::Resolve => "resolving the name",
            Phase::Connect => "connecting",
            Phase::TlsHandshake => "in the TLS handshake",
            Phase::FirstByte => "waiting for the first byte",
            Phase::ReadBody => "reading the body",
            Phase::Send => "sending data",
            Phase::Banner => "waiting for the banner",
            Phase::Exchange(doing) => doing,
        }
    }
}

/// A failure as met, before classification.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Name resolution failed.
    Resolve { host: String, error: io::Error },
    /// Name resolution succeeded but returned no address.
    NoAddresses { host: String },
    /// Every address was refused by the network guard.
    Guarded {
        host: String,
        /// The host was an IP address, not a name.
        literal: bool,
        refused: Vec<(IpAddr, String)>,
    },
    /// No connection could be made to any address; `error` is the last one's.
    Connect {
        peer: SocketAddr,
        error: io::Error,
        others: usize,
    },
    /// A socket or TLS error after connecting.
    Io { phase: Phase, error: io::Error },
    /// An HTTP-level error reported by hyper.
    Http { phase: Phase, error: hyper::Error },
    /// The check's deadline passed during `phase`.
    Timeout { phase: Phase, limit: Duration },
    /// The host cannot be used as a TLS server name.
    TlsName { host: String },
    /// A protocol problem found by the probe itself; the message says it all.
    Protocol(String),
}

/// Classifies a failure: the [`ErrorKind`] and the message shown to users.
pub(crate) fn classify(f: &Failure) -> (ErrorKind, String) {
    match f {
        Failure::Resolve { host, error } => {
            (ErrorKind::Dns, format!("could not resolve {host}: {error}"))
        }
        Failure::NoAddresses { host } => (ErrorKind::Dns, format!("{host} resolves to no address")),
        Failure::Guarded {
            host,
            literal,
            refused,
        } => {
            let list = refused
                .iter()
                .map(|(ip, why)| format!("{ip} ({why})"))
                .collect::<Vec<_>>()
                .join(", ");
            let msg = if *literal {
                format!("{list} is an address the probe may not use")
            } else {
                format!("{host} resolves only to addresses the probe may not use: {list}")
            };
            (ErrorKind::Dns, msg)
        }
        Failure::Connect {
            peer,
            error,
            others,
        } => {
            let mut msg = match error.kind() {
                io::ErrorKind::ConnectionRefused => format!("connection refused by {peer}"),
                _ => format!("could not connect to {peer}: {error}"),
            };
            match others {
                0 => {}
                1 => msg.push_str(" (and 1 other address failed)"),
                n => {
                    let _ = write!(msg, " (and {n} other addresses failed)");
                }
            }
            (ErrorKind::Connect, msg)
        }
        Failure::Io { phase, error } => classify_io(*phase, error),
        Failure::Http { phase, error } => classify_hyper(*phase, error),
        Failure::Timeout { phase, limit } => (
            ErrorKind::Timeout,
            format!(
                "no answer within {} (while {})",
                HumanDuration(*limit),
                phase.doing()
            ),
        ),
        Failure::TlsName { host } => (
            ErrorKind::Tls,
            format!("{host:?} cannot be used as a TLS server name"),
        ),
        Failure::Protocol(msg) => (ErrorKind::Protocol, msg.clone()),
    }
}

fn classify_io(phase: Phase, error: &io::Error) -> (ErrorKind, String) {
    if let Some(tls) = rustls_error(error) {
        let words = tls_words(tls);
        let msg = if phase == Phase::TlsHandshake {
            format!("TLS handshake failed: {words}")
        } else {
            format!("TLS error while {}: {words}", phase.doing())
        };
        return (ErrorKind::Tls, msg);
    }
    let closed = match error.kind() {
        io::ErrorKind::UnexpectedEof => Some("closed"),
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => Some("reset"),
        io::ErrorKind::BrokenPipe => Some("closed"),
        _ => None,
    };
    match (phase, closed) {
        (Phase::TlsHandshake, Some(how)) => (
            ErrorKind::Tls,
            format!("TLS handshake failed: the server {how} the connection"),
        ),
        (Phase::TlsHandshake, None) => (ErrorKind::Tls, format!("TLS handshake failed: {error}")),
        (Phase::Resolve, _) => (
            ErrorKind::Dns,
            format!("could not resolve the name: {error}"),
        ),
        (Phase::Connect, _) => (ErrorKind::Connect, format!("could not connect: {error}")),
        (Phase::ReadBody, Some("closed")) => (
            ErrorKind::Protocol,
            "the server closed the connection before the body was complete".to_owned(),
        ),
        (_, Some(how)) => (
            ErrorKind::Protocol,
            format!("the server {how} the connection while {}", phase.doing()),
        ),
        (_, None) => (
            ErrorKind::Protocol,
            format!("{error} while {}", phase.doing()),
        ),
    }
}

fn classify_hyper(phase: Phase, error: &hyper::Error) -> (ErrorKind, String) {
    // Socket and TLS errors surface through hyper with the io::Error as a source.
    if let Some(io_err) = find_source::<io::Error>(error)
        && (rustls_error(io_err).is_some() || io_err.kind() != io::ErrorKind::Other)
    {
        return classify_io(phase, io_err);
    }
    let msg = if error.is_parse() {
        format!("malformed HTTP response: {}", chain(error))
    } else if error.is_incomplete_message() {
        // Only a response head can be incomplete this way: a body cut short surfaces
        // as an io::Error (UnexpectedEof) and is classified above.
        "the server closed the connection before sending a complete response".to_owned()
    } else if phase == Phase::ReadBody {
        // hyper's body errors read "error reading a body from connection: <cause>".
        format!("the body could not be read: {}", chain(error))
    } else {
        format!("{} while {}", chain(error), phase.doing())
    };
    (ErrorKind::Protocol, msg)
}

/// A rustls error carried inside an `io::Error` (tokio-rustls wraps them so).
fn rustls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

fn find_source<'a, T: StdError + 'static>(e: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<T>() {
            return Some(t);
        }
        cur = err.source();
    }
    None
}

/// An error and its sources, joined by ": ", without repeating a cause already shown.
fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

/// A rustls error in words, with the common certificate problems spelled out.
pub(crate) fn tls_words(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(ce) => match ce {
            CertificateError::Expired => "certificate expired".to_owned(),
            CertificateError::ExpiredContext { not_after, .. } => {
                match i64::try_from(not_after.as_secs())
                    .ok()
                    .and_then(|s| jiff::Timestamp::from_second(s).ok())
                {
                    Some(ts) => format!("certificate expired (not valid after {ts})"),
                    None => "certificate expired".to_owned(),
                }
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "certificate is not valid yet".to_owned()
            }
            CertificateError::UnknownIssuer => {
                "invalid peer certificate: UnknownIssuer (not issued by an authority the probe trusts)".to_owned()
            }
            _ => e.to_string(),
        },
        rustls::Error::AlertReceived(alert) => format!("the server refused the handshake (alert {alert:?})"),
        rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => {
            format!("the server does not seem to speak TLS on this port ({e})")
        }
        rustls::Error::NoApplicationProtocol => "the server does not speak HTTP/1.1 over TLS".to_owned(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io_err(kind: io::ErrorKind) -> io::Error {
        io::Error::new(kind, "boom")
    }

    #[test]
    fn resolution_failures_are_dns() {
        let (k, m) = classify(&Failure::Resolve {
            host: "nosuch.invalid".into(),
            error: io_err(io::ErrorKind::Other),
        });
        assert_eq!(k, ErrorKind::Dns);
        assert_eq!(m, "could not resolve nosuch.invalid: boom");
        let (k, _) = classify(&Failure::NoAddresses { host: "x".into() });
        assert_eq!(k, ErrorKind::Dns);
    }

    #[test]
    fn guard_refusals_are_dns_and_list_the_addresses() {
        let (k, m) = classify(&Failure::Guarded {
            host: "metadata.example".into(),
            literal: false,
            refused: vec![
                ("169.254.169.254".parse().unwrap(), "link-local".into()),
                ("fe80::1".parse().unwrap(), "link-local".into()),
            ],
        });
        assert_eq!(k, ErrorKind::Dns);
        assert_eq!(
            m,
            "metadata.example resolves only to addresses the probe may not use: \
             169.254.169.254 (link-local), fe80::1 (link-local)"
        );
        let (_, m) = classify(&Failure::Guarded {
            host: "169.254.169.254".into(),
            literal: true,
            refused: vec![("169.254.169.254".parse().unwrap(), "link-local".into())],
        });
        assert_eq!(
            m,
            "169.254.169.254 (link-local) is an address the probe may not use"
        );
    }

    #[test]
    fn connect_failures() {
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let (k, m) = classify(&Failure::Connect {
            peer,
            error: io_err(io::ErrorKind::ConnectionRefused),
            others: 0,
        });
        assert_eq!(
            (k, m.as_str()),
            (ErrorKind::Connect, "connection refused by 127.0.0.1:9")
        );
        let (k, m) = classify(&Failure::Connect {
            peer,
            error: io_err(io::ErrorKind::HostUnreachable),
            others: 2,
        });
        assert_eq!(k, ErrorKind::Connect);
        assert_eq!(
            m,
            "could not connect to 127.0.0.1:9: boom (and 2 other addresses failed)"
        );
    }

    #[test]
    fn tls_errors_are_tls_in_any_phase() {
        let e = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
        );
        let (k, m) = classify(&Failure::Io {
            phase: Phase::TlsHandshake,
            error: e,
        });
        assert_eq!(k, ErrorKind::Tls);
        assert!(
            m.starts_with("TLS handshake failed: invalid peer certificate: UnknownIssuer"),
            "{m}"
        );
        let e = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::Expired),
        );
        let (k, m) = classify(&Failure::Io {
            phase: Phase::ReadBody,
            error: e,
        });
        assert_eq!(k, ErrorKind::Tls);
        assert_eq!(m, "TLS error while reading the body: certificate expired");
        let (k, m) = classify(&Failure::Io {
            phase: Phase::TlsHandshake,
            error: io_err(io::ErrorKind::UnexpectedEof),
        });
        assert_eq!(k, ErrorKind::Tls);
        assert_eq!(m, "TLS handshake failed: the server closed the connection");
    }

    #[test]
    fn early_close_after_connect_is_protocol() {
        let (k, m) = classify(&Failure::Io {
            phase: Phase::Banner,
            error: io_err(io::ErrorKind::ConnectionReset),
        });
        assert_eq!(k, ErrorKind::Protocol);
        assert_eq!(
            m,
            "the server reset the connection while waiting for the banner"
        );
    }

    #[test]
    fn timeouts_name_the_phase() {
        let (k, m) = classify(&Failure::Timeout {
            phase: Phase::FirstByte,
            limit: Duration::from_secs(2),
        });
        assert_eq!(k, ErrorKind::Timeout);
        assert_eq!(m, "no answer within 2s (while waiting for the first byte)");
    }

    #[test]
    fn expired_certificate_names_the_date() {
        let e = rustls::Error::InvalidCertificate(CertificateError::ExpiredContext {
            time: rustls::pki_types::UnixTime::since_unix_epoch(Duration::from_secs(1_700_000_000)),
            not_after: rustls::pki_types::UnixTime::since_unix_epoch(Duration::from_secs(
                1_600_000_000,
            )),
        });
        assert_eq!(
            tls_words(&e),
            "certificate expired (not valid after 2020-09-13T12:26:40Z)"
        );
    }

    #[test]
    fn chain_skips_repeated_causes() {
        let inner = io_err(io::ErrorKind::Other);
        let outer = io::Error::other(inner);
        assert_eq!(chain(&outer), "boom");
    }

    /// A connection that hands hyper `data` once the request is written, then fails
    /// every read with `kind` (or ends, for `UnexpectedEof`): socket errors that carry
    /// no more precise kind reach the classification too.
    struct Scripted {
        data: Vec<u8>,
        pos: usize,
        kind: io::ErrorKind,
        /// The answer comes once the request has been written.
        asked: bool,
        waiting: Option<std::task::Waker>,
    }

    impl tokio::io::AsyncRead for Scripted {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            if !self.asked {
                self.waiting = Some(cx.waker().clone());
                return std::task::Poll::Pending;
            }
            let rest = &self.data[self.pos..];
            if rest.is_empty() {
                // `UnexpectedEof` plays the peer closing the connection: a read of 0.
                if self.kind == io::ErrorKind::UnexpectedEof {
                    return std::task::Poll::Ready(Ok(()));
                }
                return std::task::Poll::Ready(Err(io::Error::new(self.kind, "link lost")));
            }
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            self.pos += n;
            std::task::Poll::Ready(Ok(()))
        }
    }

    impl tokio::io::AsyncWrite for Scripted {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<io::Result<usize>> {
            self.asked = true;
            if let Some(w) = self.waiting.take() {
                w.wake();
            }
            std::task::Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    /// The error hyper gives reading a response (head and body) from `data`, followed
    /// by a read error of `kind`.
    async fn hyper_error(data: &[u8], kind: io::ErrorKind) -> hyper::Error {
        use http_body_util::BodyExt;
        let io = hyper_util::rt::TokioIo::new(Scripted {
            data: data.to_vec(),
            pos: 0,
            kind,
            asked: false,
            waiting: None,
        });
        let (mut send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        let req = http::Request::get("/")
            .header("host", "example.test")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        match send.send_request(req).await {
            Err(e) => e,
            Ok(resp) => resp
                .into_body()
                .collect()
                .await
                .expect_err("the body fails"),
        }
    }

    #[tokio::test]
    async fn a_body_that_cannot_be_read_says_so_with_its_cause() {
        let e = hyper_error(
            b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nabc",
            io::ErrorKind::Other,
        )
        .await;
        let (k, m) = classify(&Failure::Http {
            phase: Phase::ReadBody,
            error: e,
        });
        assert_eq!(k, ErrorKind::Protocol);
        assert!(m.starts_with("the body could not be read: "), "{m}");
        assert!(m.ends_with("link lost"), "{m}");
        // The same failure before the head is complete names the phase instead.
        let e = hyper_error(b"HTTP/1.1 200 OK\r\ncontent-", io::ErrorKind::Other).await;
        let (_, m) = classify(&Failure::Http {
            phase: Phase::FirstByte,
            error: e,
        });
        assert!(
            m.ends_with("link lost while waiting for the first byte"),
            "{m}"
        );
    }

    #[tokio::test]
    async fn a_body_cut_short_and_a_head_cut_short_read_as_such() {
        let e = hyper_error(
            b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nabc",
            io::ErrorKind::UnexpectedEof,
        )
        .await;
        let (k, m) = classify(&Failure::Http {
            phase: Phase::ReadBody,
            error: e,
        });
        assert_eq!(
            (k, m.as_str()),
            (
                ErrorKind::Protocol,
                "the server closed the connection before the body was complete"
            )
        );
        let e = hyper_error(b"HTTP/1.1 200 OK\r\ncontent-", io::ErrorKind::UnexpectedEof).await;
        let (k, m) = classify(&Failure::Http {
            phase: Phase::FirstByte,
            error: e,
        });
        assert_eq!(
            (k, m.as_str()),
            (
                ErrorKind::Protocol,
                "the server closed the connection before sending a complete response"
            )
        );
    }

    #[test]
    fn a_broken_pipe_is_the_server_closing_the_connection() {
        let (k, m) = classify(&Failure::Io {
            phase: Phase::Send,
            error: io_err(io::ErrorKind::BrokenPipe),
        });
        assert_eq!(
            (k, m.as_str()),
            (
                ErrorKind::Protocol,
                "the server closed the connection while sending data"
            )
        );
    }

    #[test]
    fn an_error_chain_shows_each_cause_once() {
        #[derive(Debug)]
        struct E(&'static str, Option<Box<E>>);
        impl std::fmt::Display for E {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl StdError for E {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                self.1.as_deref().map(|e| e as &(dyn StdError + 'static))
            }
        }
        let e = E(
            "request failed: connection refused",
            Some(Box::new(E(
                "connection refused",
                Some(Box::new(E("os error 111", None))),
            ))),
        );
        assert_eq!(
            chain(&e),
            "request failed: connection refused: os error 111"
        );
    }

    #[test]
    fn certificate_problems_people_meet_are_spelled_out() {
        let bad = |e: CertificateError| tls_words(&rustls::Error::InvalidCertificate(e));
        assert_eq!(
            bad(CertificateError::NotValidYet),
            "certificate is not valid yet"
        );
        assert_eq!(
            bad(CertificateError::UnknownIssuer),
            "invalid peer certificate: UnknownIssuer (not issued by an authority the probe trusts)"
        );
        assert_eq!(
            tls_words(&rustls::Error::NoApplicationProtocol),
            "the server does not speak HTTP/1.1 over TLS"
        );
    }

    #[test]
    fn a_refused_handshake_and_a_server_without_tls_are_told_apart() {
        let refused = rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure);
        assert_eq!(
            tls_words(&refused),
            "the server refused the handshake (alert HandshakeFailure)"
        );
        let plain = rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        assert!(
            tls_words(&plain).starts_with("the server does not seem to speak TLS on this port ("),
            "{}",
            tls_words(&plain)
        );
    }
}
