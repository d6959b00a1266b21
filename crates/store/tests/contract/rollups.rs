//! Rollups: raw samples in, hourly and daily rows upserted, listed and pruned, and
//! the watermark of what has been rolled up.

use vigilmon_core::{ErrorKind, MonitorId, MonitorState, Verdict};

use crate::{Db, check, create, new_id, t, up};

pub(crate) async fn rollups_upsert_list_and_watermark(db: Db) {
    use vigilmon_core::rollup::{Accumulator, Outcome};
    use vigilmon_store::{ALL_REGIONS, RollupPeriod, RollupRow};
    let s = &db.store;
    let a = create(s, "a").await;
    let b = create(s, "b").await;
    let mut batch = vec![
        up(a.id, "local", t(0)),
        up(a.id, "eu", t(1)),
        up(b.id, "local", t(3600)),
    ];
    batch.push(check(
        a.id,
        "local",
        t(2),
        Verdict::down(ErrorKind::Timeout, "timeout"),
        (MonitorState::Up, 1),
        MonitorState::Up,
    ));
    s.record_results(&batch).await.unwrap();
    let mut samples = s.raw_samples(t(0), t(3600)).await.unwrap();
    samples.sort_by_key(|x| (x.region.clone(), x.duration_ms));
    assert_eq!(samples.len(), 3, "the hour is half-open");
    assert_eq!(
        samples
            .iter()
            .filter(|x| x.outcome == Outcome::Down)
            .count(),
        1
    );

    let roll = |durations: &[u64], down: usize| {
        let mut acc = Accumulator::default();
        for (i, d) in durations.iter().enumerate() {
            acc.add(if i < down { Outcome::Down } else { Outcome::Up }, *d);
        }
        acc.finish()
    };
    let row = |m: MonitorId, region: &str, at: i64, r| RollupRow {
        monitor_id: m,
        region: region.into(),
        bucket_start: t(at),
        rollup: r,
    };
    let rows = vec![
        row(a.id, ALL_REGIONS, 0, roll(&[42, 42, 7], 1)),
        row(a.id, "local", 0, roll(&[42, 7], 1)),
        row(b.id, ALL_REGIONS, 3600, roll(&[42], 0)),
        row(new_id(), ALL_REGIONS, 0, roll(&[1], 0)),
    ];
    s.upsert_rollups(RollupPeriod::Hour, &rows).await.unwrap();
    // Idempotent: the same rows again, and one replaced.
    let mut again = rows.clone();
    again[1].rollup = roll(&[42, 8], 0);
    s.upsert_rollups(RollupPeriod::Hour, &again).await.unwrap();
    let all = s
        .list_rollups(RollupPeriod::Hour, &[], None, t(0), t(7200))
        .await
        .unwrap();
    assert_eq!(all.len(), 3, "a deleted monitor's row is skipped");
    let a_rows = s
        .list_rollups(RollupPeriod::Hour, &[a.id], None, t(0), t(7200))
        .await
        .unwrap();
    assert_eq!(a_rows, [again[0].clone(), again[1].clone()]);
    assert_eq!(a_rows[1].rollup.failures, 0);
    assert_eq!(a_rows[0].rollup.duration_p95, Some(42));
    let only_all = s
        .list_rollups(
            RollupPeriod::Hour,
            &[a.id, b.id],
            Some(ALL_REGIONS),
            t(0),
            t(3600),
        )
        .await
        .unwrap();
    assert_eq!(only_all, [again[0].clone()]);
    assert!(
        s.list_rollups(RollupPeriod::Day, &[], None, t(0), t(7200))
            .await
            .unwrap()
            .is_empty()
    );
    s.upsert_rollups(RollupPeriod::Day, &rows[..1])
        .await
        .unwrap();
    assert_eq!(
        s.list_rollups(RollupPeriod::Day, &[], None, t(0), t(1))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.delete_rollups_before(RollupPeriod::Hour, t(3600))
            .await
            .unwrap(),
        2
    );

    assert_eq!(s.rollup_watermark().await.unwrap(), None);
    s.set_rollup_watermark(t(3600)).await.unwrap();
    s.set_rollup_watermark(t(7200)).await.unwrap();
    assert_eq!(s.rollup_watermark().await.unwrap(), Some(t(7200)));
    assert_eq!(s.oldest_result_at().await.unwrap(), Some(t(0)));
}
