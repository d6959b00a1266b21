//! The listener: accepts connections up to a cap and serves each with HTTP/1.1 under
//! deadlines, so that no client can hold the server's sockets by sending slowly or
//! not at all.
//!
//! A connection is always in one of three phases, and two of them have a deadline:
//!
//! | phase | from | ends when | closed after |
//! |---|---|---|---|
//! | reading a head | accept, or the first byte after an idle spell | the head is complete | [`Limits::header_read_timeout`] |
//! | busy | the head is complete | the response is ready | never by this module: the body has its own deadline, handlers theirs |
//! | idle | the response is ready | the next request's first byte | [`Limits::keepalive_timeout`] |
//!
//! A request body must arrive whole within [`Limits::body_read_timeout`] of its head
//! (a body that trickles fails, and the handler answers its error). At most
//! [`Limits::max_connections`] connections are open at once; past that, new ones wait
//! in the kernel's accept queue until one closes, which the deadlines above guarantee.
//! The phases are watched by one small task-local loop per connection (no timers per
//! read), and shutdown is graceful: no new connections, idle ones closed, requests in
//! flight finished. Until its first byte arrives a connection is only a socket and a
//! small task (about a kilobyte): the HTTP machinery and its buffers are made then, so
//! thousands of silent sockets cost little memory.
//!
//! A connection keeps the read buffer its largest request grew, for as long as it is
//! kept alive: thousands of idle connections that each once sent a 60 KB path or a
//! 250 KB body would hold gigabytes. So a request larger than
//! [`KEEP_ALIVE_MAX_REQUEST_BYTES`] (head and body) is answered with
//! `Connection: close`, and its connection and buffers go with the answer; ordinary
//! requests keep their connection.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tracing::{debug, warn};

/// Past this size (request line, headers and body), a request's connection is closed
/// after its answer instead of being kept alive (see the module's documentation).
pub const KEEP_ALIVE_MAX_REQUEST_BYTES: usize = 16 * 1024;

/// About how many bytes a request's head took on the wire.
fn head_bytes<B>(req: &hyper::Request<B>) -> usize {
    let target = req.uri().path_and_query().map_or(1, |p| p.as_str().len());
    let line = req.method().as_str().len() + target + 12;
    req.headers()
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum::<usize>()
        + line
}

/// The bounds every connection is served under (`server.*` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A request's head must be complete within this time of the connection opening,
    /// or of its first byte on a kept-alive connection.
    pub header_read_timeout: Duration,
    /// A request's body must be complete within this time of its head.
    pub body_read_timeout: Duration,
    /// A connection with no request in flight is closed after this time.
    pub keepalive_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(60),
            max_connections: 10_000,
        }
    }
}

/// Accepts and serves connections until `shutdown`, then closes the idle ones, lets
/// requests in flight finish and returns.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    loop {
        let permit = tokio::select! {
            () = shutdown.cancelled() => break,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was
                    // accepted: keep serving the ones we have, try again shortly.
                    warn!(message = "cannot accept a connection", error = %e);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let watcher = graceful.watcher();
        let app = app.clone();
        let shutdown = shutdown.clone();
        let accepted_at = Instant::now();
        tokio::spawn(async move {
            // Until its first byte a connection costs no buffer: many silent sockets
            // hold little memory, and are closed at the head's deadline all the same.
            let mut first = [0u8; 1];
            let first_byte = tokio::select! {
                // `readable` alone may wake before any byte is there; peeking waits
                // for one (0: the client closed).
                r = stream.peek(&mut first) => matches!(r, Ok(n) if n > 0),
                () = tokio::time::sleep_until(accepted_at + limits.header_read_timeout) => false,
                () = shutdown.cancelled() => false,
            };
            if first_byte {
                // Boxed, so that the task of a silent socket is small: its future
                // would otherwise be sized for the whole HTTP machinery.
                Box::pin(serve_connection(
                    stream,
                    peer,
                    app,
                    limits,
                    watcher,
                    accepted_at,
                ))
                .await;
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Where a connection is: see the module's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Head,
    Busy(u32),
    Idle,
}

/// A connection's phase and when it began, shared by its reads, its requests and its
/// watch loop; `changed` wakes the loop whenever a deadline moves.
struct Activity {
    state: Mutex<(Phase, Instant)>,
    changed: Notify,
}

impl Activity {
    /// A connection reading its first head since `since` (its accept).
    fn new(since: Instant) -> Self {
        Self {
            state: Mutex::new((Phase::Head, since)),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Phase, Instant)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, phase: Phase) {
        *self.lock() = (phase, Instant::now());
        self.changed.notify_one();
    }

    /// Bytes arrived: on an idle connection, a new request's head has begun.
    fn read_some(&self) {
        let idle = self.lock().0 == Phase::Idle;
        if idle {
            self.set(Phase::Head);
        }
    }

    /// A head is complete: a request is in flight until the returned guard drops.
    fn begin(self: &Arc<Self>) -> InFlight {
        let mut s = self.lock();
        let n = match s.0 {
            Phase::Busy(n) => n + 1,
            _ => 1,
        };
        *s = (Phase::Busy(n), Instant::now());
        InFlight(self.clone())
    }

    /// When the connection must be closed, if nothing changes before.
    fn deadline(&self, limits: &Limits) -> Option<Instant> {
        let (phase, since) = *self.lock();
        match phase {
            Phase::Head => Some(since + limits.header_read_timeout),
            Phase::Idle => Some(since + limits.keepalive_timeout),
            Phase::Busy(_) => None,
        }
    }
}

/// One request in flight; its drop makes the connection idle when it was the last.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let next = match self.0.lock().0 {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle,
        };
        self.0.set(next);
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: Limits,
    watcher: hyper_util::server::graceful::Watcher,
    accepted_at: Instant,
) {
    let activity = Arc::new(Activity::new(accepted_at));
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            let in_flight = activity.begin();
            req.extensions_mut().insert(ConnectInfo(peer));
            let late = Arc::new(AtomicBool::new(false));
            let declared = req
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            let head = head_bytes(&req);
            let read = Arc::new(AtomicUsize::new(0));
            let req = req.map(|body| {
                if body.is_end_stream() {
                    Body::new(body)
                } else {
                    Body::new(DeadlineBody::new(
                        body,
                        limits.body_read_timeout,
                        late.clone(),
                        read.clone(),
                    ))
                }
            });
            let app = app.clone();
            async move {
                let mut res = app.oneshot(req).await;
                if late.load(Ordering::Relaxed) {
                    // Whatever the handler made of its failed read, the client is
                    // told what happened, and the connection (its body half read)
                    // is not reused.
                    res = Ok(body_too_late(limits.body_read_timeout));
                }
                let size = head + declared.max(read.load(Ordering::Relaxed));
                if size > KEEP_ALIVE_MAX_REQUEST_BYTES
                    && let Ok(r) = res.as_mut()
                {
                    r.headers_mut().insert(
                        header::CONNECTION,
                        header::HeaderValue::from_static("close"),
                    );
                }
                drop(in_flight);
                res
            }
        })
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        // This module keeps the head's deadline (hyper's would also cut idle
        // keep-alive connections at the head's shorter limit).
        .header_read_timeout(None)
        .keep_alive(true)
        .serve_connection(io, service);
    let conn = watcher.watch(conn);
    tokio::pin!(conn);
    loop {
        let deadline = activity.deadline(&limits);
        tokio::select! {
            done = &mut conn => {
                if let Err(e) = done {
                    debug!(message = "connection ended with an error", %peer, error = %e);
                }
                return;
            }
            () = activity.changed.notified() => {}
            () = sleep_until(deadline) => {
                if activity.deadline(&limits).is_some_and(|d| d <= Instant::now()) {
                    let (phase, _) = *activity.lock();
                    debug!(message = "closing a connection past its deadline", %peer, ?phase);
                    return;
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// The socket, telling its connection's [`Activity`] when bytes arrive.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.read_some();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The answer to a request whose body missed its deadline.
fn body_too_late(limit: Duration) -> Response {
    (
        StatusCode::REQUEST_TIMEOUT,
        [(header::CONNECTION, "close")],
        format!(
            "request body did not arrive within {}\n",
            humantime::format_duration(limit)
        ),
    )
        .into_response()
}

/// A request body that must be complete by a deadline; `late` is set when it is not.
struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<Sleep>>,
    limit: Duration,
    late: Arc<AtomicBool>,
    /// Bytes of the body read so far.
    read: Arc<AtomicUsize>,
}

impl DeadlineBody {
    fn new(
        inner: Incoming,
        limit: Duration,
        late: Arc<AtomicBool>,
        read: Arc<AtomicUsize>,
    ) -> Self {
        Self {
            inner,
            deadline: Box::pin(tokio::time::sleep(limit)),
            limit,
            late,
            read,
        }
    }
}

/// The error of a body that missed its deadline.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
struct BodyTimeout(Duration);

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            if let Some(Ok(data)) = frame.as_ref().map(|f| f.as_ref().map(Frame::data_ref)) {
                let n = data.map_or(0, Bytes::len);
                self.read.fetch_add(n, Ordering::Relaxed);
            }
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.late.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(BodyTimeout(self.limit).into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
