//! The disk buffer: results the server could not take yet, kept in order until it can.
//!
//! Layout: a directory of segment files `<seq>.jsonl` (`seq` a zero-padded, growing
//! number), each holding at most `segment_lines` results, one JSON [`ResultItem`] per
//! line. New results are appended to the newest segment (write + flush; no fsync: a
//! power cut may lose the last writes, a crash of the agent loses nothing written);
//! the oldest segment is read first ([`DiskBuffer::head`]) and removed only after the
//! server accepted it ([`DiskBuffer::remove_head`]). Removing part of a segment
//! rewrites it (to a temporary file, then renamed over it), which is cheap because
//! segments are small.
//!
//! The buffer is bounded: when it holds more than `max` results, the oldest are
//! dropped first, and [`DiskBuffer::append`] says how many. It survives restarts:
//! [`DiskBuffer::open`] reads the segments back, skipping (and rewriting away) lines
//! that do not parse, such as the half-written last line of a crash.

use std::collections::VecDeque;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use vigilmon_core::protocol::ResultItem;

/// Results per segment file by default: one segment is one request to the server.
pub const DEFAULT_SEGMENT_LINES: usize = 500;

/// A bounded, ordered, on-disk queue of results. Owned by one task.
#[derive(Debug)]
pub struct DiskBuffer {
    dir: PathBuf,
    max: usize,
    segment_lines: usize,
    /// Oldest first.
    segments: VecDeque<Segment>,
    next_seq: u64,
    total: usize,
}

#[derive(Debug, Clone, Copy)]
struct Segment {
    seq: u64,
    lines: usize,
}

/// What [`DiskBuffer::open`] found on disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// Results recovered from a previous run.
    pub results: usize,
    /// Lines that did not parse and were discarded (a crash in mid-write, damage).
    pub corrupt_lines: usize,
    /// Results dropped because there were more than the bound allows.
    pub dropped: usize,
}

/// The oldest results, as read by [`DiskBuffer::head`].
#[derive(Debug, Clone, Default)]
pub struct Head {
    /// The results, oldest first.
    pub items: Vec<ResultItem>,
    /// How many lines they came from (more than `items` when a line was damaged);
    /// pass it to [`DiskBuffer::remove_head`] once the items are safe elsewhere.
    pub lines: usize,
}

/// An append that failed part-way: `written` results made it to disk.
#[derive(Debug, thiserror::Error)]
#[error("cannot write to the result buffer ({written} of the results written): {source}")]
pub struct AppendError {
    pub written: usize,
    #[source]
    pub source: io::Error,
}

impl DiskBuffer {
    /// Opens (creating it if needed) the buffer in `dir`, holding at most `max`
    /// results in segments of at most `segment_lines`.
    pub fn open(
        dir: &Path,
        max: usize,
        segment_lines: usize,
    ) -> io::Result<(DiskBuffer, OpenReport)> {
        fs::create_dir_all(dir)?;
        let mut seqs = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.ends_with(".tmp") {
                // A rewrite that did not finish: the original is still in place.
                let _ = fs::remove_file(entry.path());
            } else if let Some(seq) = parse_segment_name(name) {
                seqs.push(seq);
            }
        }
        seqs.sort_unstable();
        let mut buf = DiskBuffer {
            dir: dir.to_owned(),
            max,
            segment_lines: segment_lines.max(1),
            segments: VecDeque::new(),
            next_seq: seqs.last().map_or(1, |s| s + 1),
            total: 0,
        };
        let mut report = OpenReport::default();
        for seq in seqs {
            let path = buf.path(seq);
            let bytes = fs::read(&path)?;
            let (good, bad) = valid_lines(&bytes);
            report.corrupt_lines += bad;
            if good.is_empty() {
                fs::remove_file(&path)?;
                continue;
            }
            if bad > 0 {
                rewrite(&path, &good)?;
            }
            buf.segments.push_back(Segment {
                seq,
                lines: good.len(),
            });
            buf.total += good.len();
        }
        report.results = buf.total;
        report.dropped = buf.enforce_bound()?;
        Ok((buf, report))
    }

    /// Results held.
    pub fn len(&self) -> usize {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Appends results after every result already held, then drops the oldest while
    /// over the bound; returns how many were dropped.
    pub fn append(&mut self, items: &[ResultItem]) -> Result<usize, AppendError> {
        let mut written = 0;
        while written < items.len() {
            let need_new = self
                .segments
                .back()
                .is_none_or(|s| s.lines >= self.segment_lines);
            if need_new {
                let seq = self.next_seq;
                self.next_seq += 1;
                self.segments.push_back(Segment { seq, lines: 0 });
            }
            let last = self.segments.len() - 1;
            let seg = self.segments[last];
            let take = (self.segment_lines - seg.lines).min(items.len() - written);
            let chunk = &items[written..written + take];
            if let Err(source) = append_lines(&self.path(seg.seq), chunk) {
                if seg.lines == 0 {
                    self.segments.pop_back();
                    let _ = fs::remove_file(self.path(seg.seq));
                }
                // Whatever fits in the bound stays; report the failure.
                let _ = self.enforce_bound();
                return Err(AppendError { written, source });
            }
            self.segments[last].lines += take;
            self.total += take;
            written += take;
        }
        self.enforce_bound()
            .map_err(|source| AppendError { written, source })
    }

    /// The oldest results (at most one segment's worth), oldest first.
    pub fn head(&self) -> io::Result<Head> {
        let Some(seg) = self.segments.front() else {
            return Ok(Head::default());
        };
        let bytes = fs::read(self.path(seg.seq))?;
        let mut head = Head::default();
        for line in bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .take(seg.lines.min(self.segment_lines))
        {
            head.lines += 1;
            if let Ok(item) = serde_json::from_slice::<ResultItem>(line) {
                head.items.push(item);
            }
        }
        if head.lines == 0 {
            // The file lost its lines behind our back: count it as consumed.
            head.lines = seg.lines;
        }
        Ok(head)
    }

    /// Removes the `n` oldest results (normally `Head::lines`, after the server
    /// accepted them). Removes at most the oldest segment.
    pub fn remove_head(&mut self, n: usize) -> io::Result<()> {
        let Some(seg) = self.segments.front().copied() else {
            return Ok(());
        };
        let path = self.path(seg.seq);
        if n >= seg.lines {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            self.segments.pop_front();
            self.total -= seg.lines;
        } else if n > 0 {
            let bytes = fs::read(&path)?;
            let rest: Vec<&[u8]> = bytes
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .skip(n)
                .collect();
            rewrite(&path, &rest)?;
            self.segments[0].lines = rest.len();
            self.total = self.total - seg.lines + rest.len();
            if rest.is_empty() {
                let _ = fs::remove_file(&path);
                self.segments.pop_front();
            }
        }
        Ok(())
    }

    /// Drops the oldest results while more than `max` are held.
    fn enforce_bound(&mut self) -> io::Result<usize> {
        let mut dropped = 0;
        while self.total > self.max {
            let Some(seg) = self.segments.front().copied() else {
                break;
            };
            let n = (self.total - self.max).min(seg.lines);
            let before = self.total;
            self.remove_head(n.max(1))?;
            dropped += before - self.total;
            if before == self.total {
                break;
            }
        }
        Ok(dropped)
    }

    fn path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.jsonl"))
    }
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".jsonl")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The lines of a segment that parse as results, and how many did not (a last line
/// without its newline counts as damaged: it was cut in mid-write).
fn valid_lines(bytes: &[u8]) -> (Vec<&[u8]>, usize) {
    let mut good = Vec::new();
    let mut bad = 0;
    let complete = bytes.ends_with(b"\n");
    let mut parts: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    // `split` yields a last empty piece after a final newline, or the cut line.
    let tail = parts.pop().unwrap_or_default();
    if !complete && !tail.is_empty() {
        bad += 1;
    }
    for line in parts {
        if line.is_empty() {
            continue;
        }
        if serde_json::from_slice::<ResultItem>(line).is_ok() {
            good.push(line);
        } else {
            bad += 1;
        }
    }
    (good, bad)
}

/// Appends one line per item and flushes; on failure the file is cut back to where
/// it was, so no partial line stays behind.
fn append_lines(path: &Path, items: &[ResultItem]) -> io::Result<()> {
    let mut out = Vec::with_capacity(items.len() * 512);
    for item in items {
        serde_json::to_writer(&mut out, item).map_err(io::Error::other)?;
        out.push(b'\n');
    }
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let before = file.metadata()?.len();
    let written = file.write_all(&out).and_then(|()| file.flush());
    if let Err(e) = written {
        let _ = file.set_len(before);
        return Err(e);
    }
    Ok(())
}

/// Replaces a segment's content with `lines`, atomically (temporary file + rename).
fn rewrite(path: &Path, lines: &[&[u8]]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut out = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for l in lines {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    fs::write(&tmp, &out)?;
    fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;
    use vigilmon_core::{CheckResult, MonitorId, RegionName, Verdict};

    /// A result whose `duration_ms` carries a sequence number, to check order.
    fn item(n: u64) -> ResultItem {
        ResultItem {
            offline: false,
            monitor_id: MonitorId::from_uuid(uuid::Uuid::from_u128(u128::from(n % 7) + 1)),
            result: CheckResult {
                status_code: Some(200),
                remote_addr: Some("127.0.0.1:80".into()),
                ..CheckResult::new(
                    RegionName::parse("eu").unwrap(),
                    Timestamp::from_millisecond(1_800_000_000_000 + n as i64).unwrap(),
                    n,
                    Verdict::Up,
                )
            },
        }
    }

    fn items(range: std::ops::Range<u64>) -> Vec<ResultItem> {
        range.map(item).collect()
    }

    /// Empties the buffer the way the sender does, returning the sequence numbers.
    fn drain(b: &mut DiskBuffer) -> Vec<u64> {
        let mut out = Vec::new();
        while !b.is_empty() {
            let h = b.head().unwrap();
            out.extend(h.items.iter().map(|i| i.result.duration_ms));
            b.remove_head(h.lines).unwrap();
        }
        out
    }

    fn segment_files(dir: &Path) -> usize {
        fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_str()
                    .unwrap()
                    .ends_with(".jsonl")
            })
            .count()
    }

    #[test]
    fn appends_and_replays_in_order_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let (mut b, report) = DiskBuffer::open(dir.path(), 1000, 10).unwrap();
        assert_eq!(report, OpenReport::default());
        assert!(b.is_empty());
        assert_eq!(b.append(&items(0..7)).unwrap(), 0);
        assert_eq!(b.append(&items(7..25)).unwrap(), 0);
        assert_eq!(b.len(), 25);
        assert_eq!(segment_files(dir.path()), 3, "10 + 10 + 5");
        let h = b.head().unwrap();
        assert_eq!(h.items.len(), 10, "one segment at a time");
        assert_eq!(drain(&mut b), (0..25).collect::<Vec<_>>());
        assert_eq!(segment_files(dir.path()), 0, "sent segments are deleted");
    }

    #[test]
    fn drops_the_oldest_when_over_the_bound_and_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        let (mut b, _) = DiskBuffer::open(dir.path(), 25, 10).unwrap();
        assert_eq!(b.append(&items(0..20)).unwrap(), 0);
        assert_eq!(b.append(&items(20..32)).unwrap(), 7);
        assert_eq!(b.len(), 25);
        // one batch larger than the whole bound keeps only its newest results
        assert_eq!(b.append(&items(32..92)).unwrap(), 60);
        assert_eq!(b.len(), 25);
        assert_eq!(drain(&mut b), (67..92).collect::<Vec<_>>());
    }

    #[test]
    fn survives_reopen_and_keeps_appending_after_what_was_there() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut b, _) = DiskBuffer::open(dir.path(), 1000, 10).unwrap();
            b.append(&items(0..15)).unwrap();
            // the first 4 were sent before the "crash"
            b.remove_head(4).unwrap();
        }
        let (mut b, report) = DiskBuffer::open(dir.path(), 1000, 10).unwrap();
        assert_eq!(report.results, 11);
        assert_eq!(report.corrupt_lines, 0);
        b.append(&items(15..18)).unwrap();
        assert_eq!(drain(&mut b), (4..18).collect::<Vec<_>>());
    }

    #[test]
    fn reopening_with_a_smaller_bound_drops_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut b, _) = DiskBuffer::open(dir.path(), 1000, 10).unwrap();
            b.append(&items(0..30)).unwrap();
        }
        let (mut b, report) = DiskBuffer::open(dir.path(), 12, 10).unwrap();
        assert_eq!(report.results, 30);
        assert_eq!(report.dropped, 18);
        assert_eq!(drain(&mut b), (18..30).collect::<Vec<_>>());
    }

    #[test]
    fn tolerates_a_cut_last_line_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut b, _) = DiskBuffer::open(dir.path(), 1000, 10).unwrap();
            b.append(&items(0..12)).unwrap();
        }
        // damage: garbage in the middle of the first segment, a cut line at the end of
        // the second (as a crash in mid-write leaves it), a stray temporary file
        let first = dir.path().join(format!("{:020}.jsonl", 1));
        let text = fs::read_to_string(&first).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.insert(3, "{not json");
        lines.insert(5, "");
        fs::write(&first, lines.join("\n") + "\n").unwrap();
        let second = dir.path().join(format!("{:020}.jsonl", 2));
        let mut f = fs::OpenOptions::new().append(true).open(&second).unwrap();
        f.write_all(br#"{"monitor_id":"0000"#).unwrap();
        fs::write(dir.path().join("00000000000000000002.jsonl.tmp"), "x").unwrap();
        fs::write(dir.path().join("README"), "not a segment").unwrap();

        let (mut b, report) = DiskBuffer::open(dir.path(), 1000, 10).unwrap();
        assert_eq!(report.results, 12);
        assert_eq!(report.corrupt_lines, 2);
        assert!(!dir.path().join("00000000000000000002.jsonl.tmp").exists());
        // appending after a repaired cut line yields whole lines
        b.append(&items(12..14)).unwrap();
        drop(b);
        let (mut b, report) = DiskBuffer::open(dir.path(), 1000, 10).unwrap();
        assert_eq!((report.results, report.corrupt_lines), (14, 0));
        assert_eq!(drain(&mut b), (0..14).collect::<Vec<_>>());
    }

    #[test]
    fn a_segment_emptied_behind_our_back_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let (mut b, _) = DiskBuffer::open(dir.path(), 1000, 10).unwrap();
        b.append(&items(0..15)).unwrap();
        fs::write(dir.path().join(format!("{:020}.jsonl", 1)), "").unwrap();
        assert_eq!(drain(&mut b), (10..15).collect::<Vec<_>>());
        assert!(b.is_empty());
    }

    #[test]
    fn partial_removal_keeps_the_rest_of_the_segment() {
        let dir = tempfile::tempdir().unwrap();
        let (mut b, _) = DiskBuffer::open(dir.path(), 1000, 10).unwrap();
        b.append(&items(0..6)).unwrap();
        b.remove_head(2).unwrap();
        assert_eq!(b.len(), 4);
        b.append(&items(6..8)).unwrap();
        assert_eq!(drain(&mut b), (2..8).collect::<Vec<_>>());
    }
}
