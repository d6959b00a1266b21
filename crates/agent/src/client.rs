//! The agent's HTTP client for the three agent endpoints, with every answer sorted
//! into what the agent should do about it.
//!
//! Every request carries `Authorization: Bearer <token>` (marked sensitive, so it is
//! never logged), `User-Agent: vigilmon-agent/<version>` and
//! `X-Vigilmon-Agent-Version: <version>`. Failures fall into three kinds
//! ([`ApiError`]): the token is refused (401/403: stop the agent), the request is
//! refused (another 4xx: do not send it again), or the server is unavailable
//! (connection error, timeout, 408, 429, 5xx: try again later).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use vigilmon_core::MonitorId;

use vigilmon_core::protocol::{Assignments, ResultItem, ResultsAnswer, ResultsBatch, WaitAnswer};

/// The agent's version, as sent to the server.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// How long a connection attempt to the server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How much longer than the long poll itself a wait request may take before the
/// agent gives up on it.
const WAIT_GRACE: Duration = Duration::from_secs(10);

/// Why a request to the server did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 401 or 403: the token is wrong, unknown, revoked, or not an agent token.
    #[error("the server refused the agent token ({status}): {message}")]
    Unauthorized { status: u16, message: String },
    /// Another 4xx: the server will not take this request, sending it again is useless.
    #[error("the server refused the request ({status}): {message}")]
    Refused { status: u16, message: String },
    /// The server could not be reached or could not answer now; try again later.
    #[error("{0}")]
    Unavailable(String),
}

/// The answer to a conditional assignments request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetched {
    /// `304`: the assignment has not changed since the ETag sent.
    NotModified,
    /// `200`: the current assignment and its ETag.
    Changed {
        assignments: Assignments,
        etag: Option<String>,
    },
}

/// A client for one server, with the agent's token.
#[derive(Clone, Debug)]
pub struct ServerClient {
    http: reqwest::Client,
    /// The server's base URL without a trailing slash.
    base: String,
    request_timeout: Duration,
    reach: Reach,
}

/// Whether the agent can reach the server over the network: set by every request of
/// every clone of the client (a connection error or a timeout: cut off; any answer,
/// even an error status: reachable). Results taken while cut off are sent marked
/// `offline` (PROTOCOL.md).
#[derive(Clone, Debug, Default)]
pub struct Reach(Arc<AtomicBool>);

impl Reach {
    /// The last request failed to reach the server.
    pub fn is_cut_off(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub(crate) fn set_cut_off(&self, cut_off: bool) {
        self.0.store(cut_off, Ordering::Relaxed);
    }
}

impl ServerClient {
    /// A client for the server at `base` (`http://` or `https://`, possibly with a
    /// path prefix). `extra_roots` (DER) are trusted in addition to the system's
    /// roots, for a server behind an internal CA.
    pub fn new(
        base: &url::Url,
        token: &str,
        extra_roots: &[Vec<u8>],
        request_timeout: Duration,
    ) -> Result<ServerClient, String> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut headers = HeaderMap::new();
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.trim()))
            .map_err(|_| "the token contains characters that cannot be sent".to_owned())?;
        auth.set_sensitive(true);
        headers.insert(header::AUTHORIZATION, auth);
        headers.insert(
            "x-vigilmon-agent-version",
            HeaderValue::from_static(VERSION),
        );
        let mut roots = Vec::new();
        for (i, der) in extra_roots.iter().enumerate() {
            roots.push(
                reqwest::Certificate::from_der(der)
                    .map_err(|e| format!("CA certificate #{}: {e}", i + 1))?,
            );
        }
        let http = reqwest::Client::builder()
            .user_agent(format!("vigilmon-agent/{VERSION}"))
            .default_headers(headers)
            .connect_timeout(CONNECT_TIMEOUT)
            .tls_certs_merge(roots)
            .build()
            .map_err(|e| error_chain(&e))?;
        Ok(ServerClient {
            http,
            base: base.as_str().trim_end_matches('/').to_owned(),
            request_timeout,
            reach: Reach::default(),
        })
    }

    /// Whether requests reach the server, shared by every clone of this client.
    pub fn reach(&self) -> Reach {
        self.reach.clone()
    }

    /// Sends a request, noting whether it reached the server.
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, ApiError> {
        match req.send().await {
            Ok(resp) => {
                self.reach.set_cut_off(false);
                Ok(resp)
            }
            Err(e) => {
                self.reach.set_cut_off(true);
                Err(unavailable(&e))
            }
        }
    }

    /// How long an assignment or results request may take.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// `GET /api/v1/agent/assignments`, conditional on `etag`.
    pub async fn assignments(&self, etag: Option<&str>) -> Result<Fetched, ApiError> {
        let mut req = self
            .request(Method::GET, "/api/v1/agent/assignments")
            .timeout(self.request_timeout);
        if let Some(tag) = etag {
            req = req.header(header::IF_NONE_MATCH, tag);
        }
        let resp = self.send(req).await?;
        if resp.status() == StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified);
        }
        let etag = resp
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let assignments = read_json::<Assignments>(resp).await?;
        Ok(Fetched::Changed { assignments, etag })
    }

    /// `POST /api/v1/agent/results` with a batch, oldest first.
    pub async fn post_results(&self, items: &[ResultItem]) -> Result<ResultsAnswer, ApiError> {
        let req = self
            .request(Method::POST, "/api/v1/agent/results")
            .timeout(self.request_timeout)
            .json(&ResultsBatch {
                results: items.into(),
            });
        let resp = self.send(req).await?;
        let status = resp.status();
        match read_json::<ResultsAnswer>(resp).await {
            Ok(a) => Ok(a),
            // Stored, but the answer is not what this agent understands: the results
            // are off our hands all the same.
            Err(ApiError::Unavailable(_)) if status.is_success() => Ok(ResultsAnswer {
                accepted: items.len() as u64,
                ..ResultsAnswer::default()
            }),
            Err(e) => Err(e),
        }
    }

    /// `GET /api/v1/agent/wait?timeout_ms=…`: the monitors to check now (often none,
    /// after `timeout`).
    pub async fn wait(&self, timeout: Duration) -> Result<Vec<MonitorId>, ApiError> {
        let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let req = self
            .request(Method::GET, &format!("/api/v1/agent/wait?timeout_ms={ms}"))
            .timeout(timeout + WAIT_GRACE);
        let resp = self.send(req).await?;
        Ok(read_json::<WaitAnswer>(resp).await?.checks)
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }
}

/// Sorts a response into success (its JSON body) or one of the [`ApiError`] kinds.
async fn read_json<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, ApiError> {
    let status = resp.status();
    let url = resp.url().path().to_owned();
    let body = resp.bytes().await.map_err(|e| unavailable(&e))?;
    if status.is_success() {
        return serde_json::from_slice(&body).map_err(|e| {
            ApiError::Unavailable(format!(
                "{url}: the server's answer is not what this agent expects ({e}); is the server too old for agents?"
            ))
        });
    }
    let message = error_message(status, &body);
    let code = status.as_u16();
    Err(match code {
        401 | 403 => ApiError::Unauthorized {
            status: code,
            message,
        },
        408 | 429 => ApiError::Unavailable(format!("{url}: {code} {message}")),
        400..=499 => ApiError::Refused {
            status: code,
            message,
        },
        _ => ApiError::Unavailable(format!("{url}: {code} {message}")),
    })
}

/// The error body every API error carries (`{"error":{"code","message",…}}`), read
/// leniently: any part may be missing.
#[derive(Debug, serde::Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, serde::Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// The message of an API error body, else the start of the body, else the reason.
fn error_message(status: StatusCode, body: &[u8]) -> String {
    if let Ok(e) = serde_json::from_slice::<ErrorBody>(body)
        && let Some(m) = e.error.message.or(e.error.code)
    {
        return m;
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text.chars().take(200).collect()
    }
}

fn unavailable(e: &reqwest::Error) -> ApiError {
    if e.is_timeout() {
        ApiError::Unavailable(format!(
            "the server did not answer in time: {}",
            error_chain(e)
        ))
    } else {
        ApiError::Unavailable(error_chain(e))
    }
}

/// An error and its causes on one line (reqwest's own message is only the outer one).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap as AxHeaders;
    use axum::routing::{get, post};
    use std::sync::{Arc, Mutex};

    /// A stand-in server: answers each endpoint with a fixed status and body, and
    /// remembers the request headers it saw.
    async fn fake(
        status: u16,
        body: &'static str,
        seen: Arc<Mutex<Vec<AxHeaders>>>,
    ) -> ServerClient {
        let code = axum::http::StatusCode::from_u16(status).unwrap();
        let app = axum::Router::new()
            .route(
                "/api/v1/agent/assignments",
                get({
                    let seen = seen.clone();
                    move |h: AxHeaders| async move {
                        let not_modified = h.get("if-none-match").is_some_and(|v| v == "\"v1\"");
                        seen.lock().unwrap().push(h);
                        if not_modified {
                            return (
                                axum::http::StatusCode::NOT_MODIFIED,
                                [("etag", "\"v1\"")],
                                "",
                            );
                        }
                        (code, [("etag", "\"v1\"")], body)
                    }
                }),
            )
            .route(
                "/api/v1/agent/results",
                post(move || async move { (code, body) }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let url = url::Url::parse(&format!("http://{addr}/")).unwrap();
        ServerClient::new(&url, "s3cret", &[], Duration::from_secs(5)).unwrap()
    }

    #[tokio::test]
    async fn conditional_fetch_and_identifying_headers() {
        let seen = Arc::default();
        let c = fake(
            200,
            r#"{"protocol":1,"region":"eu","poll_interval_ms":1000,"monitors":[]}"#,
            Arc::clone(&seen),
        )
        .await;
        let Fetched::Changed { assignments, etag } = c.assignments(None).await.unwrap() else {
            panic!("expected an assignment");
        };
        assert_eq!(assignments.region, "eu");
        assert_eq!(etag.as_deref(), Some("\"v1\""));
        assert_eq!(
            c.assignments(etag.as_deref()).await.unwrap(),
            Fetched::NotModified
        );
        let h = &seen.lock().unwrap()[0];
        assert_eq!(h["authorization"], "Bearer s3cret");
        assert_eq!(h["x-vigilmon-agent-version"], VERSION);
        assert_eq!(
            h["user-agent"].to_str().unwrap(),
            format!("vigilmon-agent/{VERSION}")
        );
    }

    /// A one-shot HTTPS server with a self-signed certificate for 127.0.0.1 that
    /// answers every request with an assignment; returns its URL and certificate.
    async fn tls_server() -> (url::Url, Vec<u8>) {
        use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let der = cert.der().to_vec();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut req = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => req.extend_from_slice(&buf[..n]),
                        }
                    }
                    let body = r#"{"protocol":1,"region":"eu","monitors":[]}"#;
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(resp.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        (url::Url::parse(&format!("https://{addr}")).unwrap(), der)
    }

    #[tokio::test]
    async fn https_to_a_server_of_an_internal_ca() {
        let (url, der) = tls_server().await;
        let trusting = ServerClient::new(&url, "t", &[der], Duration::from_secs(5)).unwrap();
        assert!(matches!(
            trusting.assignments(None).await,
            Ok(Fetched::Changed { .. })
        ));
        let plain = ServerClient::new(&url, "t", &[], Duration::from_secs(5)).unwrap();
        let err = plain.assignments(None).await.unwrap_err();
        assert!(
            matches!(&err, ApiError::Unavailable(m) if m.contains("certificate")),
            "{err}"
        );
    }

    #[tokio::test]
    async fn sorts_failures_into_kinds() {
        let body = r#"{"error":{"code":"unauthorized","message":"unknown or revoked token"}}"#;
        let c = fake(401, body, Arc::default()).await;
        assert_eq!(
            c.assignments(None).await.unwrap_err(),
            ApiError::Unauthorized {
                status: 401,
                message: "unknown or revoked token".into()
            }
        );
        let c = fake(400, "bad batch", Arc::default()).await;
        assert!(matches!(
            c.post_results(&[]).await.unwrap_err(),
            ApiError::Refused { status: 400, .. }
        ));
        for code in [429, 500, 503] {
            let c = fake(code, "", Arc::default()).await;
            assert!(matches!(
                c.post_results(&[]).await.unwrap_err(),
                ApiError::Unavailable(_)
            ));
        }
        // nobody listening
        let url = url::Url::parse("http://127.0.0.1:9").unwrap();
        let c = ServerClient::new(&url, "t", &[], Duration::from_secs(2)).unwrap();
        assert!(matches!(
            c.wait(Duration::from_millis(10)).await.unwrap_err(),
            ApiError::Unavailable(_)
        ));
    }
}
