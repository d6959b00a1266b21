//! The sender: gets check results to the server, in order, without losing them when
//! the server is away.
//!
//! One task owns the result queue and the [`DiskBuffer`]. It batches results (up to
//! `batch_max`, or whatever arrived within `batch_wait` of the first) and posts each
//! batch. When the server cannot take a batch (connection error, timeout, 408, 429,
//! 5xx) the batch goes to the disk buffer and the sender retries later with
//! exponential backoff; while anything is buffered, new results are appended behind
//! it, so the server always receives results oldest first. A batch the server refuses
//! (another 4xx) is dropped and counted: sending it again would not help. A refused
//! token (401/403) stops the agent; what was not sent stays on disk for the next run.
//!
//! The task ends when every producer has gone (the queue is closed): the last batch
//! is sent, or written to disk when the server is unavailable.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::backoff::Backoff;
use crate::buffer::DiskBuffer;
use crate::client::{ApiError, ServerClient};
use crate::counters::Counters;
use crate::{AgentError, Fatal};
use vigilmon_core::protocol::{ResultItem, ResultsAnswer};

/// Where batches of results go: the server in production, a fake in tests.
pub trait ResultSink: Send + Sync + 'static {
    fn send<'a>(
        &'a self,
        items: &'a [ResultItem],
    ) -> Pin<Box<dyn Future<Output = Result<ResultsAnswer, ApiError>> + Send + 'a>>;
}

impl ResultSink for ServerClient {
    fn send<'a>(
        &'a self,
        items: &'a [ResultItem],
    ) -> Pin<Box<dyn Future<Output = Result<ResultsAnswer, ApiError>> + Send + 'a>> {
        Box::pin(self.post_results(items))
    }
}

/// How the sender batches and retries.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// Most results per request (the protocol allows 1,000).
    pub batch_max: usize,
    /// How long to wait for more results after the first of a batch.
    pub batch_wait: Duration,
    /// First retry delay after a failure; doubles up to `backoff_max`.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// At shutdown, how long to keep replaying the disk buffer before leaving the
    /// rest on disk for the next run.
    pub flush_timeout: Duration,
}

impl Default for SenderConfig {
    fn default() -> Self {
        Self {
            batch_max: 500,
            batch_wait: Duration::from_secs(1),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            flush_timeout: Duration::from_secs(5),
        }
    }
}

/// What became of one attempt to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    /// The server has the results.
    Done,
    /// The server refused them for good; they are dropped (and counted).
    Refused,
    /// The server is unavailable; try again after `retry_at`.
    Retry,
    /// The token was refused: stop sending.
    Stop,
    /// The batch is larger than the server takes in one request (413): send it in
    /// parts.
    TooLarge,
}

/// The sender task's state.
pub struct Sender<S: ResultSink> {
    sink: S,
    buffer: DiskBuffer,
    counters: Arc<Counters>,
    cfg: SenderConfig,
    backoff: Backoff,
    /// No attempt to send before this instant (backoff after a failure).
    retry_at: Instant,
    /// The last attempt failed (for logging the change of state once, not per retry).
    unreachable: bool,
    /// The server refused the token: only write to disk from now on.
    token_refused: bool,
    fatal: Fatal,
}

impl<S: ResultSink> Sender<S> {
    pub(crate) fn new(
        sink: S,
        buffer: DiskBuffer,
        counters: Arc<Counters>,
        cfg: SenderConfig,
        fatal: Fatal,
    ) -> Self {
        let backoff = Backoff::new(cfg.backoff_min, cfg.backoff_max);
        Self {
            sink,
            buffer,
            counters,
            cfg,
            backoff,
            retry_at: Instant::now(),
            unreachable: false,
            token_refused: false,
            fatal,
        }
    }

    /// Runs until `rx` is closed and drained; returns the buffer (for its length).
    pub async fn run(mut self, mut rx: mpsc::Receiver<ResultItem>) -> DiskBuffer {
        loop {
            let replay_due = !self.buffer.is_empty() && !self.token_refused;
            tokio::select! {
                item = rx.recv() => match item {
                    Some(first) => {
                        let batch = collect_batch(&mut rx, first, self.cfg.batch_max, self.cfg.batch_wait).await;
                        self.handle(batch, &mut rx).await;
                    }
                    None => break,
                },
                () = tokio::time::sleep_until(self.retry_at), if replay_due => {
                    self.drain(&mut rx).await;
                }
            }
        }
        if !self.buffer.is_empty() && !self.token_refused && Instant::now() >= self.retry_at {
            let flush = self.cfg.flush_timeout;
            let _ = tokio::time::timeout(flush, self.drain(&mut rx)).await;
        }
        if !self.buffer.is_empty() {
            info!(
                message =
                    "results left in the disk buffer; they are sent when the agent runs again",
                buffered = self.buffer.len()
            );
        }
        self.buffer
    }

    /// A fresh batch: straight to the server when nothing is waiting before it,
    /// otherwise behind the buffered results.
    async fn handle(&mut self, batch: Vec<ResultItem>, rx: &mut mpsc::Receiver<ResultItem>) {
        let may_send = !self.token_refused && Instant::now() >= self.retry_at;
        if self.buffer.is_empty() && may_send {
            match self.send(&batch, false).await {
                Sent::Done | Sent::Refused => {}
                Sent::Retry | Sent::Stop | Sent::TooLarge => self.store(&batch),
            }
        } else {
            self.store(&batch);
            if may_send {
                self.drain(rx).await;
            }
        }
    }

    /// Replays the disk buffer, oldest first, until it is empty or a send fails.
    async fn drain(&mut self, rx: &mut mpsc::Receiver<ResultItem>) {
        if !self.buffer.is_empty() {
            debug!(
                message = "replaying buffered results",
                buffered = self.buffer.len()
            );
        }
        let mut replayed = 0;
        while !self.buffer.is_empty() && !self.token_refused {
            let head = match self.buffer.head() {
                Ok(h) => h,
                Err(e) => {
                    error!(message = "cannot read the result buffer", error = %e);
                    self.retry_at = Instant::now() + self.backoff.next_delay();
                    return;
                }
            };
            if !head.items.is_empty() {
                match self.send(&head.items, true).await {
                    Sent::Done => replayed += head.items.len(),
                    Sent::Refused => {}
                    Sent::Retry | Sent::Stop | Sent::TooLarge => return,
                }
            }
            if let Err(e) = self.buffer.remove_head(head.lines) {
                error!(message = "cannot remove sent results from the buffer", error = %e);
                self.retry_at = Instant::now() + self.backoff.next_delay();
                return;
            }
            // Results that arrived meanwhile go behind the backlog, in order, so that
            // the checks producing them never wait on a long replay.
            self.absorb(rx);
        }
        if replayed > 0 && self.buffer.is_empty() {
            info!(message = "buffered results replayed", results = replayed);
        }
    }

    /// Moves whatever is queued right now to the end of the disk buffer.
    fn absorb(&mut self, rx: &mut mpsc::Receiver<ResultItem>) {
        let mut pending = Vec::new();
        while let Ok(item) = rx.try_recv() {
            pending.push(item);
            if pending.len() >= self.cfg.batch_max {
                self.store(&pending);
                pending.clear();
            }
        }
        if !pending.is_empty() {
            self.store(&pending);
        }
    }

    /// Sends a batch. One the server finds too large (413: its results carry long
    /// errors or body excerpts) goes again in halves, and so on down to single
    /// results, in order: a size is never a reason to drop results. When a part cannot
    /// be sent for now, the whole batch is kept to send again; the parts the server
    /// already has are stored once however often they arrive.
    async fn send(&mut self, items: &[ResultItem], replayed: bool) -> Sent {
        // Parts still to send, the next one last.
        let mut parts = vec![items];
        let mut refused = false;
        while let Some(part) = parts.pop() {
            match self.send_once(part, replayed).await {
                Sent::Done => {}
                Sent::Refused => refused = true,
                Sent::TooLarge => {
                    let (first, second) = part.split_at(part.len() / 2);
                    debug!(
                        message =
                            "the server found a batch of results too large; sending it in halves",
                        results = part.len()
                    );
                    parts.push(second);
                    parts.push(first);
                }
                other => return other,
            }
        }
        if refused { Sent::Refused } else { Sent::Done }
    }

    async fn send_once(&mut self, items: &[ResultItem], replayed: bool) -> Sent {
        match self.sink.send(items).await {
            Ok(answer) => {
                self.counters.sent(items.len(), answer.ignored, replayed);
                self.backoff.reset();
                if self.unreachable {
                    info!(message = "the server takes results again");
                    self.unreachable = false;
                }
                if answer.ignored > 0 {
                    debug!(
                        message = "the server ignored results of monitors no longer assigned here",
                        ignored = answer.ignored
                    );
                }
                if let Some(first) = answer.refused.first() {
                    // Refused for good (sending them again changes nothing): say why.
                    warn!(
                        message = "the server refused results",
                        count = answer.refused.len(),
                        first = %first.error
                    );
                }
                Sent::Done
            }
            Err(ApiError::Unavailable(reason)) => {
                let delay = self.backoff.next_delay();
                self.retry_at = Instant::now() + delay;
                if self.unreachable {
                    debug!(message = "the server still cannot take results", %reason, retry_in = ?delay);
                } else {
                    warn!(
                        message = "the server cannot take results; keeping them in the disk buffer",
                        %reason,
                        retry_in = ?delay
                    );
                    self.unreachable = true;
                }
                Sent::Retry
            }
            Err(ApiError::Refused { status: 413, .. }) if items.len() > 1 => Sent::TooLarge,
            Err(ApiError::Refused { status, message }) => {
                self.counters.rejected(items.len());
                error!(
                    message = "the server refused a batch of results; dropping it",
                    status,
                    reason = %message,
                    results = items.len()
                );
                Sent::Refused
            }
            Err(ApiError::Unauthorized { status, message }) => {
                self.token_refused = true;
                self.fatal.set(AgentError::Unauthorized { status, message });
                Sent::Stop
            }
        }
    }

    /// Writes results to the end of the disk buffer, counting what was buffered and
    /// what had to be dropped. A buffered result is sent marked `offline`: held back,
    /// it reaches the server late, as history (it was most likely taken while this
    /// agent was cut off, when every target looks down).
    fn store(&mut self, items: &[ResultItem]) {
        if items.is_empty() {
            return;
        }
        let held: Vec<ResultItem> = items
            .iter()
            .map(|i| ResultItem {
                offline: true,
                ..i.clone()
            })
            .collect();
        match self.buffer.append(&held) {
            Ok(dropped) => {
                self.counters.buffered(items.len());
                if dropped > 0 {
                    self.counters.dropped(dropped);
                    warn!(
                        message = "the result buffer is full; dropped the oldest results",
                        dropped,
                        buffered = self.buffer.len()
                    );
                }
            }
            Err(e) => {
                self.counters.buffered(e.written);
                self.counters.dropped(items.len() - e.written);
                error!(message = "cannot buffer results on disk; they are lost", error = %e, lost = items.len() - e.written);
            }
        }
    }
}

/// `first` and whatever else arrives, up to `max` results or until `wait` after the
/// first, or until the queue closes. A failed check does not wait: it may be the
/// start (or the confirmation) of an outage, so the batch goes with what is queued.
pub(crate) async fn collect_batch(
    rx: &mut mpsc::Receiver<ResultItem>,
    first: ResultItem,
    max: usize,
    wait: Duration,
) -> Vec<ResultItem> {
    let deadline = Instant::now() + wait;
    let mut urgent = !first.result.verdict.is_ok();
    let mut batch = vec![first];
    while batch.len() < max.max(1) {
        // Take what is already queued without a timer, then wait for the rest.
        match rx.try_recv() {
            Ok(item) => {
                urgent |= !item.result.verdict.is_ok();
                batch.push(item);
                continue;
            }
            Err(mpsc::error::TryRecvError::Disconnected) => break,
            Err(mpsc::error::TryRecvError::Empty) => {}
        }
        if urgent {
            break;
        }
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(item)) => {
                urgent |= !item.result.verdict.is_ok();
                batch.push(item);
            }
            Ok(None) | Err(_) => break,
        }
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;
    use std::sync::Mutex;
    use vigilmon_core::{CheckResult, MonitorId, RegionName, Verdict};

    fn item(n: u64) -> ResultItem {
        ResultItem {
            offline: false,
            monitor_id: MonitorId::from_uuid(uuid::Uuid::from_u128(1)),
            result: CheckResult::new(
                RegionName::parse("eu").unwrap(),
                Timestamp::from_millisecond(1_800_000_000_000 + n as i64).unwrap(),
                n,
                Verdict::Up,
            ),
        }
    }

    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    enum Mode {
        Up,
        Down,
        Refuse,
        BadToken,
        /// Takes at most this many results per request, answering 413 above it.
        AtMost(usize),
    }

    /// A server stand-in: answers per `mode` and records what it accepted.
    #[derive(Clone)]
    struct Fake(Arc<Mutex<(Mode, Vec<Vec<u64>>)>>, Arc<Mutex<Vec<bool>>>);

    impl Fake {
        fn new(mode: Mode) -> Self {
            Fake(Arc::new(Mutex::new((mode, Vec::new()))), Arc::default())
        }
        /// The `offline` mark of every result accepted, in order.
        fn offline_marks(&self) -> Vec<bool> {
            self.1.lock().unwrap().clone()
        }
        fn set(&self, mode: Mode) {
            self.0.lock().unwrap().0 = mode;
        }
        fn batches(&self) -> Vec<Vec<u64>> {
            self.0.lock().unwrap().1.clone()
        }
        fn all(&self) -> Vec<u64> {
            self.batches().concat()
        }
    }

    impl ResultSink for Fake {
        fn send<'a>(
            &'a self,
            items: &'a [ResultItem],
        ) -> Pin<Box<dyn Future<Output = Result<ResultsAnswer, ApiError>> + Send + 'a>> {
            Box::pin(async move {
                let mut g = self.0.lock().unwrap();
                match g.0 {
                    Mode::Up => {
                        g.1.push(items.iter().map(|i| i.result.duration_ms).collect());
                        self.1
                            .lock()
                            .unwrap()
                            .extend(items.iter().map(|i| i.offline));
                        Ok(ResultsAnswer {
                            accepted: items.len() as u64,
                            ..ResultsAnswer::default()
                        })
                    }
                    Mode::Down => Err(ApiError::Unavailable("connection refused".into())),
                    Mode::Refuse => Err(ApiError::Refused {
                        status: 400,
                        message: "malformed".into(),
                    }),
                    Mode::BadToken => Err(ApiError::Unauthorized {
                        status: 401,
                        message: "revoked".into(),
                    }),
                    Mode::AtMost(n) if items.len() > n => Err(ApiError::Refused {
                        status: 413,
                        message: "the body is too large".into(),
                    }),
                    Mode::AtMost(_) => {
                        g.1.push(items.iter().map(|i| i.result.duration_ms).collect());
                        Ok(ResultsAnswer {
                            accepted: items.len() as u64,
                            ..ResultsAnswer::default()
                        })
                    }
                }
            })
        }
    }

    struct Rig {
        tx: mpsc::Sender<ResultItem>,
        task: tokio::task::JoinHandle<DiskBuffer>,
        counters: Arc<Counters>,
        fatal: Fatal,
        _dir: tempfile::TempDir,
    }

    fn rig(fake: &Fake, cfg: SenderConfig, max: usize, dir: Option<tempfile::TempDir>) -> Rig {
        let dir = dir.unwrap_or_else(|| tempfile::tempdir().unwrap());
        let (buffer, _) = DiskBuffer::open(dir.path(), max, cfg.batch_max).unwrap();
        let counters = Arc::new(Counters::default());
        let fatal = Fatal::default();
        let (tx, rx) = mpsc::channel(10_000);
        let s = Sender::new(fake.clone(), buffer, counters.clone(), cfg, fatal.clone());
        Rig {
            tx,
            task: tokio::spawn(s.run(rx)),
            counters,
            fatal,
            _dir: dir,
        }
    }

    async fn push(tx: &mpsc::Sender<ResultItem>, range: std::ops::Range<u64>) {
        for n in range {
            tx.send(item(n)).await.unwrap();
        }
    }

    /// Lets the sender run for `d` of (paused) time.
    async fn run_for(d: Duration) {
        let step = Duration::from_millis(50);
        let mut left = d;
        while !left.is_zero() {
            let s = left.min(step);
            tokio::time::advance(s).await;
            left -= s;
            tokio::task::yield_now().await;
        }
    }

    /// A batch the server finds too large (413, long errors and body excerpts) goes in
    /// halves, in order, and nothing is dropped; from the disk buffer too.
    #[tokio::test(start_paused = true)]
    async fn a_batch_too_large_is_sent_in_parts_not_dropped() {
        let fake = Fake::new(Mode::AtMost(120));
        let r = rig(&fake, SenderConfig::default(), 100_000, None);
        push(&r.tx, 0..500).await;
        run_for(Duration::from_millis(100)).await;
        assert_eq!(fake.all(), (0..500).collect::<Vec<_>>());
        assert!(fake.batches().iter().all(|b| b.len() <= 120));
        assert_eq!(r.counters.snapshot().rejected, 0);

        // Buffered while the server was away, replayed in parts once it is back.
        fake.set(Mode::Down);
        push(&r.tx, 500..1000).await;
        run_for(Duration::from_millis(1500)).await;
        fake.set(Mode::AtMost(120));
        run_for(Duration::from_secs(120)).await;
        assert_eq!(fake.all(), (0..1000).collect::<Vec<_>>());
        assert_eq!(r.counters.snapshot().rejected, 0);
        drop(r.tx);
        r.task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn batches_by_size_and_by_time() {
        let fake = Fake::new(Mode::Up);
        let r = rig(&fake, SenderConfig::default(), 100_000, None);
        push(&r.tx, 0..1200).await;
        run_for(Duration::from_millis(100)).await;
        let sizes: Vec<usize> = fake.batches().iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![500, 500], "full batches go at once");
        run_for(Duration::from_millis(1100)).await;
        let sizes: Vec<usize> = fake.batches().iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![500, 500, 200], "the rest goes after a second");

        // results trickling in within a second travel together
        push(&r.tx, 1200..1201).await;
        run_for(Duration::from_millis(400)).await;
        push(&r.tx, 1201..1203).await;
        run_for(Duration::from_millis(300)).await;
        assert_eq!(fake.batches().len(), 3, "not sent before the second is up");
        run_for(Duration::from_millis(500)).await;
        assert_eq!(fake.batches()[3], vec![1200, 1201, 1202]);
        drop(r.tx);
        r.task.await.unwrap();
        assert_eq!(fake.all(), (0..1203).collect::<Vec<_>>());
        assert_eq!(r.counters.snapshot().results_sent, 1203);
        assert!(
            fake.offline_marks().iter().all(|o| !*o),
            "sent as they come: evidence"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_check_goes_at_once() {
        let fake = Fake::new(Mode::Up);
        let r = rig(&fake, SenderConfig::default(), 100_000, None);
        push(&r.tx, 0..2).await;
        let mut failed = item(2);
        failed.result.verdict =
            Verdict::down(vigilmon_core::ErrorKind::Connect, "connection refused");
        r.tx.send(failed).await.unwrap();
        run_for(Duration::from_millis(10)).await;
        assert_eq!(
            fake.batches(),
            vec![vec![0, 1, 2]],
            "with what was queued, without waiting out the second"
        );
        drop(r.tx);
        r.task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn buffers_while_the_server_is_down_and_replays_in_order() {
        let fake = Fake::new(Mode::Down);
        let r = rig(&fake, SenderConfig::default(), 100_000, None);
        for k in 0..10 {
            push(&r.tx, k * 100..(k + 1) * 100).await;
            run_for(Duration::from_secs(3)).await;
        }
        assert!(fake.all().is_empty());
        let s = r.counters.snapshot();
        assert_eq!(s.buffered, 1000);
        assert_eq!(s.results_sent, 0);
        fake.set(Mode::Up);
        // new results keep coming while the backlog is replayed
        push(&r.tx, 1000..1050).await;
        run_for(Duration::from_secs(40)).await;
        assert_eq!(
            fake.all(),
            (0..1050).collect::<Vec<_>>(),
            "oldest first, nothing lost, nothing twice"
        );
        assert!(
            fake.offline_marks().iter().all(|o| *o),
            "what went through the buffer is sent as history"
        );
        assert!(fake.batches().iter().all(|b| b.len() <= 500));
        let s = r.counters.snapshot();
        assert_eq!(s.replayed, 1050);
        assert_eq!(s.results_sent, 1050);
        drop(r.tx);
        assert!(r.task.await.unwrap().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn retries_with_doubling_delays() {
        let fake = Fake::new(Mode::Down);
        let r = rig(&fake, SenderConfig::default(), 100_000, None);
        push(&r.tx, 0..1).await;
        // attempts at about 1 s (batch), then +1, +2, +4, +8: the server is back at 10 s
        run_for(Duration::from_secs(10)).await;
        fake.set(Mode::Up);
        run_for(Duration::from_secs(5)).await;
        assert!(fake.all().is_empty(), "next attempt is 8 s after the last");
        run_for(Duration::from_secs(2)).await;
        assert_eq!(fake.all(), vec![0]);
        drop(r.tx);
        r.task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_batch_is_dropped_and_counted() {
        let fake = Fake::new(Mode::Refuse);
        let r = rig(&fake, SenderConfig::default(), 100_000, None);
        push(&r.tx, 0..3).await;
        run_for(Duration::from_secs(2)).await;
        fake.set(Mode::Up);
        push(&r.tx, 3..5).await;
        run_for(Duration::from_secs(2)).await;
        assert_eq!(fake.all(), vec![3, 4]);
        let s = r.counters.snapshot();
        assert_eq!((s.rejected, s.buffered), (3, 0));
        drop(r.tx);
        r.task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_token_stops_sending_and_keeps_results_on_disk() {
        let fake = Fake::new(Mode::BadToken);
        let r = rig(&fake, SenderConfig::default(), 100_000, None);
        push(&r.tx, 0..3).await;
        run_for(Duration::from_secs(2)).await;
        assert!(r.fatal.is_set());
        assert!(matches!(
            r.fatal.take(),
            Some(AgentError::Unauthorized { status: 401, .. })
        ));
        fake.set(Mode::Up);
        push(&r.tx, 3..4).await;
        run_for(Duration::from_secs(5)).await;
        assert!(
            fake.all().is_empty(),
            "nothing more is sent with a refused token"
        );
        drop(r.tx);
        assert_eq!(r.task.await.unwrap().len(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn the_bound_drops_the_oldest_buffered_results() {
        let fake = Fake::new(Mode::Down);
        let cfg = SenderConfig {
            batch_max: 10,
            ..SenderConfig::default()
        };
        let r = rig(&fake, cfg, 25, None);
        push(&r.tx, 0..40).await;
        run_for(Duration::from_secs(3)).await;
        assert_eq!(r.counters.snapshot().dropped, 15);
        fake.set(Mode::Up);
        run_for(Duration::from_secs(10)).await;
        assert_eq!(fake.all(), (15..40).collect::<Vec<_>>());
        drop(r.tx);
        r.task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn at_shutdown_unsent_results_go_to_disk_and_come_back_next_run() {
        let fake = Fake::new(Mode::Down);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_owned();
        let r = rig(&fake, SenderConfig::default(), 100_000, Some(dir));
        push(&r.tx, 0..7).await;
        drop(r.tx);
        let buffer = r.task.await.unwrap();
        assert_eq!(buffer.len(), 7);
        drop(buffer);

        // the next run replays them before anything new
        fake.set(Mode::Up);
        let (buffer, report) = DiskBuffer::open(&path, 100, 500).unwrap();
        assert_eq!(report.results, 7);
        let counters = Arc::new(Counters::default());
        let (tx, rx) = mpsc::channel(16);
        let s = Sender::new(
            fake.clone(),
            buffer,
            counters.clone(),
            SenderConfig::default(),
            Fatal::default(),
        );
        let task = tokio::spawn(s.run(rx));
        push(&tx, 7..9).await;
        run_for(Duration::from_secs(2)).await;
        drop(tx);
        assert!(task.await.unwrap().is_empty());
        assert_eq!(fake.all(), (0..9).collect::<Vec<_>>());
        assert!(counters.snapshot().replayed >= 7);
    }
}
