//! HTTP(S) checks: one request per hop over a fresh connection (hyper's HTTP/1
//! client over tokio and tokio-rustls), redirects, the capped body read, and the
//! verdict from `vigilmon_core::assert::evaluate_http`.
//!
//! Timings, per hop: `dns_ms` (skipped for IP literals), `connect_ms`, `tls_ms`
//! (https only) and `ttfb_ms`, measured from handing the request to the connection
//! until the response head is parsed. The result reports the last hop's phases; the
//! elapsed time judged against `response_time` is the whole check's.

use std::future::Future;
use std::pin::{Pin, pin};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use jiff::Timestamp;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;
use url::{Position, Url};
use vigilmon_core::Verdict;
use vigilmon_core::assert::{HttpFacts, evaluate_http};
use vigilmon_core::monitor::HttpSpec;
use vigilmon_core::outcome::body_excerpt;

use crate::classify::{Failure, Phase, classify};
use crate::net::{self, Target};
use crate::{Inner, Outcome, millis, tls};

/// How many redirects a check follows before giving up.
pub(crate) const MAX_REDIRECTS: u32 = 10;

/// The header that tells the target which probe region is asking.
static REGION_HEADER: HeaderName = HeaderName::from_static("x-vigilmon-region");

/// Headers the probe sets itself; a monitor's own values for them are ignored.
fn probe_owned(name: &HeaderName) -> bool {
    name == header::HOST
        || name == header::CONNECTION
        || name == header::CONTENT_LENGTH
        || name == header::TRANSFER_ENCODING
        || name == REGION_HEADER
}

/// Credentials that are not carried to another origin on redirect.
fn sensitive(name: &HeaderName) -> bool {
    name == header::AUTHORIZATION || name == header::COOKIE || name == header::PROXY_AUTHORIZATION
}

/// The request for the current hop of a redirect chain.
#[derive(Debug, Clone)]
struct Hop<'a> {
    url: Url,
    method: Method,
    body: Option<&'a str>,
    /// A redirect has left the original origin: credentials are no longer sent.
    cross_origin: bool,
}

impl<'a> Hop<'a> {
    /// The request after a `status` redirect to `next`: 303 turns into GET without a
    /// body (HEAD stays HEAD), 301/302 turn POST into GET without a body, 307/308 keep
    /// method and body.
    fn redirected(&self, status: u16, next: Url) -> Hop<'a> {
        let (method, body) = match status {
            303 if self.method == Method::HEAD => (Method::HEAD, None),
            303 => (Method::GET, None),
            301 | 302 if self.method == Method::POST => (Method::GET, None),
            _ => (self.method.clone(), self.body),
        };
        let cross_origin = self.cross_origin || self.url.origin() != next.origin();
        Hop {
            url: next,
            method,
            body,
            cross_origin,
        }
    }
}

/// What one hop observed; kept even when the hop fails, so the result can show the
/// phases reached, the address, the status and the body received so far.
#[derive(Debug, Default)]
struct HopRecord {
    phases: vigilmon_core::Phases,
    remote_addr: Option<std::net::SocketAddr>,
    cert_not_after: Option<Timestamp>,
    status: Option<u16>,
    body: Vec<u8>,
    truncated: bool,
}

/// How a hop ended.
enum HopEnd {
    /// A redirect to follow.
    Redirect { status: u16, location: HeaderValue },
    /// The answer to judge (its status and body are in the record).
    Final,
}

/// What every hop of a check shares.
struct HopLimits {
    follow_redirects: bool,
    max_body: usize,
    deadline: Instant,
    limit: Duration,
}

fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// Runs an HTTP check to its verdict.
pub(crate) async fn run(
    inner: &Inner,
    spec: &HttpSpec,
    start: Instant,
    deadline: Instant,
    limit: Duration,
) -> Outcome {
    let mut out = Outcome::new();
    let Ok(method) = Method::from_bytes(spec.method.as_bytes()) else {
        return out.fail(&Failure::Protocol(format!(
            "{:?} is not an HTTP method",
            spec.method
        )));
    };
    let limits = HopLimits {
        follow_redirects: spec.follow_redirects,
        max_body: inner.opts.max_body_bytes,
        deadline,
        limit,
    };
    let mut hop = Hop {
        url: spec.url.clone(),
        method,
        body: spec.body.as_deref(),
        cross_origin: false,
    };
    let mut redirects = 0u32;
    loop {
        let mut rec = HopRecord::default();
        let ended = run_hop(inner, spec, &hop, &limits, &mut rec).await;
        out.phases = rec.phases;
        out.remote_addr = rec.remote_addr;
        out.cert_expires_at = rec.cert_not_after;
        out.status_code = rec.status;
        match ended {
            Err(failure) => {
                let (kind, mut message) = classify(&failure);
                if redirects > 0 {
                    let s = if redirects == 1 { "" } else { "s" };
                    message.push_str(&format!(" (after {redirects} redirect{s}, at {})", hop.url));
                }
                if !rec.body.is_empty() {
                    out.body_excerpt = Some(body_excerpt(&rec.body));
                }
                return out.down(kind, message);
            }
            Ok(HopEnd::Redirect { status, location }) => {
                if redirects >= MAX_REDIRECTS {
                    return out.fail(&Failure::Protocol(format!(
                        "too many redirects ({MAX_REDIRECTS})"
                    )));
                }
                match next_url(&hop.url, &location) {
                    Ok(next) => {
                        redirects += 1;
                        hop = hop.redirected(status, next);
                    }
                    Err(message) => return out.fail(&Failure::Protocol(message)),
                }
            }
            Ok(HopEnd::Final) => {
                let facts = HttpFacts {
                    status: rec.status.unwrap_or_default(),
                    body: &rec.body,
                    body_truncated: rec.truncated,
                    elapsed: start.elapsed(),
                    cert_not_after: rec.cert_not_after,
                };
                let verdict = evaluate_http(spec, &facts, Timestamp::now());
                if matches!(verdict, Verdict::Down { .. }) && !rec.body.is_empty() {
                    out.body_excerpt = Some(body_excerpt(&rec.body));
                }
                out.verdict = verdict;
                return out;
            }
        }
    }
}

/// Resolves a `Location` header against the URL that answered with it. Only http and
/// https targets are followed.
fn next_url(current: &Url, location: &HeaderValue) -> Result<Url, String> {
    let text = std::str::from_utf8(location.as_bytes())
        .map_err(|_| "redirect Location header is not valid UTF-8".to_owned())?
        .trim();
    let mut next = current
        .join(text)
        .map_err(|e| format!("redirect to {text:?}, which is not a valid URL: {e}"))?;
    if next.scheme() != "http" && next.scheme() != "https" {
        return Err(format!(
            "redirect to {next}: only http and https are followed"
        ));
    }
    if next.host_str().is_none_or(str::is_empty) {
        return Err(format!("redirect to {text:?}, which has no host"));
    }
    next.set_fragment(None);
    Ok(next)
}

/// One request over a fresh connection: connect (guarded), TLS if https, send, read.
async fn run_hop(
    inner: &Inner,
    spec: &HttpSpec,
    hop: &Hop<'_>,
    limits: &HopLimits,
    rec: &mut HopRecord,
) -> Result<HopEnd, Failure> {
    let scheme = hop.url.scheme();
    if scheme != "http" && scheme != "https" {
        return Err(Failure::Protocol(format!(
            "scheme {scheme:?} is not supported; use http or https"
        )));
    }
    let host = hop
        .url
        .host()
        .ok_or_else(|| Failure::Protocol(format!("{} has no host", hop.url)))?;
    let port = hop
        .url
        .port_or_known_default()
        .ok_or_else(|| Failure::Protocol(format!("{} has no port", hop.url)))?;
    let request = build_request(inner, spec, hop)?;
    let target = Target::from_url_host(&host);
    let conn = net::open(
        &target,
        port,
        &inner.opts.guard,
        limits.deadline,
        limits.limit,
        &mut rec.phases,
    )
    .await?;
    rec.remote_addr = Some(conn.peer);
    let head_only = hop.method == Method::HEAD;

    if scheme == "https" {
        let name = tls::server_name(&host).ok_or_else(|| Failure::TlsName {
            host: host.to_string(),
        })?;
        let config = if spec.verify_tls {
            inner.tls.verified.clone()
        } else {
            inner.tls.unverified.clone()
        };
        let t0 = Instant::now();
        let stream = timeout_at(
            limits.deadline,
            TlsConnector::from(config).connect(name, conn.stream),
        )
        .await
        .map_err(|_| Failure::Timeout {
            phase: Phase::TlsHandshake,
            limit: limits.limit,
        })?
        .map_err(|error| Failure::Io {
            phase: Phase::TlsHandshake,
            error,
        })?;
        rec.phases.tls_ms = Some(millis(t0.elapsed()));
        rec.cert_not_after = tls::leaf_not_after(stream.get_ref().1);
        exchange(stream, request, head_only, limits, rec).await
    } else {
        exchange(conn.stream, request, head_only, limits, rec).await
    }
}

/// The request for a hop: method, origin-form target, the probe's headers, the
/// monitor's headers, and the body with its length.
fn build_request(
    inner: &Inner,
    spec: &HttpSpec,
    hop: &Hop<'_>,
) -> Result<Request<Full<Bytes>>, Failure> {
    let target = &hop.url[Position::BeforePath..Position::AfterQuery];
    let target = if target.is_empty() { "/" } else { target };
    let uri: Uri = target
        .parse()
        .map_err(|e| Failure::Protocol(format!("the URL path {target:?} cannot be sent: {e}")))?;

    let mut host = hop.url.host_str().unwrap_or_default().to_owned();
    if let Some(port) = hop.url.port() {
        host.push(':');
        host.push_str(&port.to_string());
    }
    let mut headers = HeaderMap::new();
    let host = HeaderValue::from_str(&host)
        .map_err(|_| Failure::Protocol(format!("host {host:?} cannot be sent in a Host header")))?;
    headers.insert(header::HOST, host);
    headers.insert(header::USER_AGENT, inner.user_agent.clone());
    headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
    headers.insert(REGION_HEADER.clone(), inner.region_header.clone());
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    for (k, v) in &spec.headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| Failure::Protocol(format!("{k:?} is not a valid header name")))?;
        if probe_owned(&name) || (hop.cross_origin && sensitive(&name)) {
            continue;
        }
        let value = HeaderValue::from_str(v)
            .map_err(|_| Failure::Protocol(format!("the value of header {k} cannot be sent")))?;
        if name == header::USER_AGENT || name == header::ACCEPT {
            headers.insert(name, value);
        } else {
            headers.append(name, value);
        }
    }
    let body = hop
        .body
        .map(|b| Bytes::copy_from_slice(b.as_bytes()))
        .unwrap_or_default();
    if hop.body.is_some() || matches!(hop.method, Method::POST | Method::PUT | Method::PATCH) {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = hop.method.clone();
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    Ok(request)
}

/// Sends the request and reads the answer on an established connection (plain or
/// TLS). The connection is driven in this same task, so nothing outlives the check.
async fn exchange<S>(
    io: S,
    request: Request<Full<Bytes>>,
    head_only: bool,
    limits: &HopLimits,
    rec: &mut HopRecord,
) -> Result<HopEnd, Failure>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let timeout = |phase| Failure::Timeout {
        phase,
        limit: limits.limit,
    };
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .title_case_headers(true)
        .handshake::<_, Full<Bytes>>(TokioIo::new(io))
        .await
        .map_err(|error| Failure::Http {
            phase: Phase::FirstByte,
            error,
        })?;
    let mut conn = pin!(conn);
    let mut conn_done = false;

    let t0 = Instant::now();
    let send = async {
        sender.ready().await?;
        sender.send_request(request).await
    };
    let response = timeout_at(limits.deadline, drive(conn.as_mut(), &mut conn_done, send))
        .await
        .map_err(|_| timeout(Phase::FirstByte))?
        .map_err(|error| Failure::Http {
            phase: Phase::FirstByte,
            error,
        })?;
    rec.phases.ttfb_ms = Some(millis(t0.elapsed()));
    let status = response.status().as_u16();
    rec.status = Some(status);

    if limits.follow_redirects
        && is_redirect(status)
        && let Some(location) = response.headers().get(header::LOCATION)
    {
        return Ok(HopEnd::Redirect {
            status,
            location: location.clone(),
        });
    }
    if head_only {
        return Ok(HopEnd::Final);
    }
    let mut body = response.into_body();
    loop {
        let frame = timeout_at(
            limits.deadline,
            drive(conn.as_mut(), &mut conn_done, body.frame()),
        )
        .await
        .map_err(|_| timeout(Phase::ReadBody))?;
        match frame {
            None => break,
            Some(Err(error)) => {
                return Err(Failure::Http {
                    phase: Phase::ReadBody,
                    error,
                });
            }
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data()
                    && push_capped(&mut rec.body, &data, limits.max_body)
                {
                    rec.truncated = true;
                    break;
                }
            }
        }
    }
    Ok(HopEnd::Final)
}

/// Polls `fut` to completion while also driving the connection future `conn` (until it
/// finishes; its errors reach `fut` through hyper's channels).
pub(crate) async fn drive<C, F>(mut conn: Pin<&mut C>, conn_done: &mut bool, fut: F) -> F::Output
where
    C: Future<Output = Result<(), hyper::Error>>,
    F: Future,
{
    let mut fut = pin!(fut);
    loop {
        tokio::select! {
            biased;
            out = &mut fut => return out,
            res = conn.as_mut(), if !*conn_done => {
                *conn_done = true;
                if let Err(e) = res {
                    tracing::trace!(error = %e, "connection ended with an error");
                }
            }
        }
    }
}

/// Appends `data` to `buf` without letting `buf` grow past `cap`; true when some of
/// `data` did not fit (the body is longer than the cap).
fn push_capped(buf: &mut Vec<u8>, data: &[u8], cap: usize) -> bool {
    let room = cap.saturating_sub(buf.len());
    if data.len() > room {
        buf.extend_from_slice(&data[..room]);
        true
    } else {
        buf.extend_from_slice(data);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn locations_resolve_against_the_current_url() {
        let cur = url("http://a.example/x/y?q=1");
        let loc = |s: &'static str| HeaderValue::from_static(s);
        assert_eq!(
            next_url(&cur, &loc("/z")).unwrap().as_str(),
            "http://a.example/z"
        );
        assert_eq!(
            next_url(&cur, &loc("w")).unwrap().as_str(),
            "http://a.example/x/w"
        );
        assert_eq!(
            next_url(&cur, &loc("https://b.example/p#frag"))
                .unwrap()
                .as_str(),
            "https://b.example/p"
        );
        assert_eq!(
            next_url(&cur, &loc("//c.example/")).unwrap().as_str(),
            "http://c.example/"
        );
        let e = next_url(&cur, &loc("ftp://files.example/")).unwrap_err();
        assert_eq!(
            e,
            "redirect to ftp://files.example/: only http and https are followed"
        );
        assert!(next_url(&cur, &loc("http://")).is_err());
    }

    #[test]
    fn redirects_rewrite_methods_like_browsers() {
        let hop = Hop {
            url: url("http://a.example/"),
            method: Method::POST,
            body: Some("x"),
            cross_origin: false,
        };
        let h = hop.redirected(303, url("http://a.example/b"));
        assert_eq!((h.method.clone(), h.body), (Method::GET, None));
        let h = hop.redirected(302, url("http://a.example/b"));
        assert_eq!((h.method.clone(), h.body), (Method::GET, None));
        let h = hop.redirected(307, url("http://a.example/b"));
        assert_eq!((h.method.clone(), h.body), (Method::POST, Some("x")));
        assert!(!h.cross_origin);
        let h = hop.redirected(308, url("http://other.example/b"));
        assert_eq!(h.method, Method::POST);
        assert!(h.cross_origin);
        // once cross-origin, always cross-origin
        assert!(h.redirected(302, url("http://a.example/")).cross_origin);
        let head = Hop {
            method: Method::HEAD,
            ..hop.clone()
        };
        assert_eq!(
            head.redirected(303, url("http://a.example/b")).method,
            Method::HEAD
        );
        let put = Hop {
            method: Method::PUT,
            ..hop
        };
        assert_eq!(
            put.redirected(301, url("http://a.example/b")).method,
            Method::PUT
        );
    }

    #[test]
    fn body_cap() {
        let mut buf = Vec::new();
        assert!(!push_capped(&mut buf, b"abc", 5));
        assert!(!push_capped(&mut buf, b"de", 5));
        assert!(!push_capped(&mut buf, b"", 5));
        assert!(push_capped(&mut buf, b"f", 5));
        assert_eq!(buf, b"abcde");
        let mut buf = Vec::new();
        assert!(push_capped(&mut buf, b"abcdef", 4));
        assert_eq!(buf, b"abcd");
    }
}
