//! Lists of monitors answered by the store (the dashboard at any size): filters, order,
//! pages, counts per group, and the figures of only the listed monitors.

use vigilmon_core::{ErrorKind, MonitorId, MonitorState, Verdict};
use vigilmon_store::{
    Covered, GroupCount, ListOrder, MonitorFilter, MonitorSource, RecordedCheck, Store,
};

use crate::{Db, Location, check, http, new_id, t, up};

async fn make(s: &Store, name: &str, url: &str, tags: &[&str]) -> MonitorId {
    let mut config = http(name, url);
    config.tags = tags.iter().map(|t| (*t).to_owned()).collect();
    s.create_monitor(new_id(), &config, MonitorSource::Api, t(0))
        .await
        .unwrap()
        .id
}

fn with_state(id: MonitorId, state: MonitorState, at: i64) -> RecordedCheck {
    let verdict = match state {
        MonitorState::Down => Verdict::down(ErrorKind::Status, "status 500"),
        _ => Verdict::Up,
    };
    check(id, "local", t(at), verdict, (state, 0), state)
}

async fn ids(s: &Store, f: &MonitorFilter, order: ListOrder) -> Vec<MonitorId> {
    s.monitor_page(f, order, 100, 0).await.unwrap().ids
}

pub(crate) async fn lists_are_filtered_ordered_and_paged(db: Db) {
    let s = &db.store;
    // Names chosen so that byte order and lower-case order differ ("Zeta" < "alpha"
    // by bytes): lists order by the name in lower case, the same on both stores.
    let alpha = make(s, "alpha", "https://a.example.com/health", &["web", "edge"]).await;
    let zeta = make(s, "Zeta", "https://z.example.com/", &["web"]).await;
    let beta = make(s, "beta 100%", "https://b.example.com/", &["db"]).await;
    let gamma = make(s, "gamma", "https://g.example.com/", &[]).await;
    let delta = make(s, "Delta", "https://d.example.com/", &["web"]).await;
    s.record_results(&[
        with_state(alpha, MonitorState::Up, 1),
        with_state(zeta, MonitorState::Down, 1),
        with_state(beta, MonitorState::Up, 1),
        with_state(gamma, MonitorState::Degraded, 1),
    ])
    .await
    .unwrap();
    // delta stays pending.
    let all = MonitorFilter::default();

    // Grouped: groups by name (untagged last), worst first within one, then name.
    assert_eq!(
        ids(s, &all, ListOrder::Grouped).await,
        vec![beta, zeta, delta, alpha, gamma]
    );
    // Worst first across groups.
    assert_eq!(
        ids(s, &all, ListOrder::WorstFirst).await,
        vec![zeta, gamma, delta, beta, alpha]
    );
    // Pages: the total is of the whole list.
    let p = s
        .monitor_page(&all, ListOrder::Grouped, 2, 2)
        .await
        .unwrap();
    assert_eq!((p.ids, p.total), (vec![delta, alpha], 5));
    let p = s
        .monitor_page(&all, ListOrder::Grouped, 2, 10)
        .await
        .unwrap();
    assert_eq!((p.ids.len(), p.total), (0, 5));

    // Search: name, type, target and tags, in any case; % and _ are literal.
    let text = |q: &str| MonitorFilter {
        text: Some(q.into()),
        ..MonitorFilter::default()
    };
    assert_eq!(ids(s, &text("ZETA"), ListOrder::Grouped).await, vec![zeta]);
    assert_eq!(
        ids(s, &text("a.example.com"), ListOrder::Grouped).await,
        vec![alpha]
    );
    assert_eq!(ids(s, &text("edge"), ListOrder::Grouped).await, vec![alpha]);
    assert_eq!(ids(s, &text("100%"), ListOrder::Grouped).await, vec![beta]);
    assert!(ids(s, &text("a%b"), ListOrder::Grouped).await.is_empty());
    assert!(ids(s, &text("_eta"), ListOrder::Grouped).await.is_empty());
    assert_eq!(ids(s, &text("http"), ListOrder::Grouped).await.len(), 5);

    // State, tag (anywhere in the list), group (the first tag; `Some(None)`: untagged).
    let states = MonitorFilter {
        states: vec![MonitorState::Down, MonitorState::Degraded],
        ..MonitorFilter::default()
    };
    assert_eq!(
        ids(s, &states, ListOrder::WorstFirst).await,
        vec![zeta, gamma]
    );
    let tag = MonitorFilter {
        tag: Some("edge".into()),
        ..MonitorFilter::default()
    };
    assert_eq!(ids(s, &tag, ListOrder::Grouped).await, vec![alpha]);
    let web = MonitorFilter {
        group: Some(Some("web".into())),
        ..MonitorFilter::default()
    };
    assert_eq!(
        ids(s, &web, ListOrder::Grouped).await,
        vec![zeta, delta, alpha]
    );
    let untagged = MonitorFilter {
        group: Some(None),
        ..MonitorFilter::default()
    };
    assert_eq!(ids(s, &untagged, ListOrder::Grouped).await, vec![gamma]);
    let edge_group = MonitorFilter {
        group: Some(Some("edge".into())),
        ..MonitorFilter::default()
    };
    assert!(ids(s, &edge_group, ListOrder::Grouped).await.is_empty());

    // Counts per group and state; per state over all.
    let counts = s.group_counts(&all).await.unwrap();
    let g = |group: Option<&str>, state: MonitorState, n: u64| GroupCount {
        group: group.map(str::to_owned),
        state,
        n,
    };
    assert_eq!(
        counts,
        vec![
            g(Some("db"), MonitorState::Up, 1),
            g(Some("web"), MonitorState::Down, 1),
            g(Some("web"), MonitorState::Pending, 1),
            g(Some("web"), MonitorState::Up, 1),
            g(None, MonitorState::Degraded, 1),
        ]
    );
    let mut totals = s.monitor_state_counts(&Covered::default()).await.unwrap();
    totals.sort_by_key(|(st, _)| st.as_str());
    assert_eq!(
        totals,
        vec![
            (MonitorState::Degraded, 1),
            (MonitorState::Down, 1),
            (MonitorState::Pending, 1),
            (MonitorState::Up, 2),
        ]
    );
    assert_eq!(
        s.monitor_tag_names().await.unwrap(),
        vec!["db", "edge", "web"]
    );

    // Maintenance windows cover by name or tag; a paused monitor stays paused.
    let mut paused = http("beta 100%", "https://b.example.com/");
    paused.tags = vec!["db".into()];
    paused.paused = true;
    s.update_monitor(beta, &paused, t(2)).await.unwrap();
    let covered = Covered {
        names: vec!["alpha".into()],
        tags: vec!["db".into()],
    };
    let maintenance = MonitorFilter {
        states: vec![MonitorState::Maintenance],
        maintenance: covered.clone(),
        ..MonitorFilter::default()
    };
    assert_eq!(ids(s, &maintenance, ListOrder::Grouped).await, vec![alpha]);
    let mut totals = s.monitor_state_counts(&covered).await.unwrap();
    totals.sort_by_key(|(st, _)| st.as_str());
    assert_eq!(
        totals,
        vec![
            (MonitorState::Degraded, 1),
            (MonitorState::Down, 1),
            (MonitorState::Maintenance, 1),
            (MonitorState::Paused, 1),
            (MonitorState::Pending, 1),
        ]
    );
    // In maintenance sorts after pending and before paused.
    let worst = MonitorFilter {
        maintenance: covered,
        ..MonitorFilter::default()
    };
    assert_eq!(
        ids(s, &worst, ListOrder::WorstFirst).await,
        vec![zeta, gamma, delta, alpha, beta]
    );

    // An edit moves the search text and the tags; a delete takes the tags with it.
    let mut renamed = http("omega", "https://o.example.com/");
    renamed.tags = vec!["cache".into(), "web".into()];
    s.update_monitor(zeta, &renamed, t(3)).await.unwrap();
    assert!(ids(s, &text("zeta"), ListOrder::Grouped).await.is_empty());
    assert_eq!(ids(s, &text("omega"), ListOrder::Grouped).await, vec![zeta]);
    let cache = MonitorFilter {
        group: Some(Some("cache".into())),
        ..MonitorFilter::default()
    };
    assert_eq!(ids(s, &cache, ListOrder::Grouped).await, vec![zeta]);
    assert!(s.delete_monitor(zeta).await.unwrap());
    assert_eq!(
        s.monitor_tag_names().await.unwrap(),
        vec!["db", "edge", "web"]
    );
    assert!(ids(s, &cache, ListOrder::Grouped).await.is_empty());
}

pub(crate) async fn figures_of_listed_monitors(db: Db) {
    let s = &db.store;
    let a = make(s, "a", "https://a.example.com/", &[]).await;
    let b = make(s, "b", "https://b.example.com/", &[]).await;
    let c = make(s, "c", "https://c.example.com/", &[]).await;
    let down = |id, at| {
        check(
            id,
            "local",
            t(at),
            Verdict::down(ErrorKind::Status, "status 500"),
            (MonitorState::Up, 1),
            MonitorState::Up,
        )
    };
    s.record_results(&[
        up(a, "local", t(0)),
        down(a, 10),
        up(b, "local", t(5)),
        up(c, "local", t(7)),
        up(a, "local", t(-60)),
    ])
    .await
    .unwrap();
    // The figures of the ids asked for only.
    let some = [a, b];
    let mut expect = vec![(a, 2, 1), (b, 1, 1)];
    expect.sort_by_key(|x| x.0);
    assert_eq!(s.result_counts(t(0), &some).await.unwrap(), expect);
    let recent = s.recent_checks(t(0), &some).await.unwrap();
    assert_eq!(
        recent
            .iter()
            .map(|x| (x.monitor_id, x.checked_at, x.ok))
            .collect::<Vec<_>>(),
        vec![(a, t(0), true), (b, t(5), true), (a, t(10), false)]
    );
    assert!(s.result_counts(t(0), &[]).await.unwrap().is_empty());
    assert!(s.recent_checks(t(0), &[]).await.unwrap().is_empty());
    // Monitors and their regions, in the order asked.
    let (monitors, regions) = s.monitors_with_regions_of(&[c, a]).await.unwrap();
    assert_eq!(
        monitors.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![c, a]
    );
    let mut expect = vec![a, c];
    expect.sort();
    assert_eq!(regions.iter().map(|r| r.0).collect::<Vec<_>>(), expect);
}

/// Monitors written before the store kept search text and tags are filled when it opens.
pub(crate) async fn monitors_stored_before_the_index_are_found(db: Db) {
    db.store.close().await;
    let id = MonitorId(uuid::Uuid::now_v7());
    let config = r#"{"name":"Old One","type":"tcp","host":"db.internal","port":5432,"tags":["legacy","db"]}"#;
    let sql = "INSERT INTO monitors (id, name, kind, config, source, paused, state, \
        state_changed_at, last_checked_at, created_at, updated_at) \
        VALUES ($1, 'Old One', 'tcp', CONFIG, 'api', FALSE, 'up', NULL, NULL, 0, 0)";
    crate::start_over_at_schema(&db, 16).await;
    match &db.location {
        Location::Sqlite(dir) => {
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(
                    sqlx::sqlite::SqliteConnectOptions::new()
                        .filename(dir.join(vigilmon_store::SQLITE_FILE_NAME)),
                )
                .await
                .unwrap();
            sqlx::query(sqlx::AssertSqlSafe(
                sql.replace("CONFIG", "$2").replace("FALSE", "0"),
            ))
            .bind(id.0)
            .bind(config)
            .execute(&pool)
            .await
            .unwrap();
            pool.close().await;
        }
        Location::Postgres(url) => {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect(url)
                .await
                .unwrap();
            sqlx::query(sqlx::AssertSqlSafe(sql.replace("CONFIG", "$2::jsonb")))
                .bind(id.0)
                .bind(config)
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
    }
    let s = db.reopen().await;
    let found = |q: &str| MonitorFilter {
        text: Some(q.into()),
        ..MonitorFilter::default()
    };
    for q in ["old one", "db.internal:5432", "legacy", "tcp"] {
        assert_eq!(
            ids(&s, &found(q), ListOrder::Grouped).await,
            vec![id],
            "{q}"
        );
    }
    let legacy = MonitorFilter {
        group: Some(Some("legacy".into())),
        ..MonitorFilter::default()
    };
    assert_eq!(ids(&s, &legacy, ListOrder::Grouped).await, vec![id]);
    assert_eq!(s.monitor_tag_names().await.unwrap(), vec!["db", "legacy"]);
    // Opening again finds nothing left to fill and changes nothing.
    s.close().await;
    let s = db.reopen().await;
    assert_eq!(ids(&s, &legacy, ListOrder::Grouped).await, vec![id]);
    s.close().await;
}
