//! Monitors: create, read, update, delete, names that conflict, and the state a
//! monitor keeps or loses across edits.

use jiff::SignedDuration;
use vigilmon_core::monitor::TcpConfig;
use vigilmon_core::{ErrorKind, KindConfig, MonitorConfig, MonitorId, MonitorState, Verdict};
use vigilmon_store::{MonitorSource, RegionStateRecord, StoreError};

use crate::{Db, assert_conflict, check, create, http, new_id, t, up};

fn regions_of(states: &[RegionStateRecord]) -> Vec<&str> {
    states.iter().map(|r| r.region.as_str()).collect()
}

pub(crate) async fn monitor_crud(db: Db) {
    let s = &db.store;
    let now = t(0) + SignedDuration::from_nanos(123_456_789);
    let beta_id = new_id();
    let beta = s
        .create_monitor(beta_id, &http("beta", "http://b"), MonitorSource::Api, now)
        .await
        .unwrap();
    assert_eq!(beta.id, beta_id);
    assert_eq!(beta.config, http("beta", "http://b"));
    assert_eq!(beta.source, MonitorSource::Api);
    assert_eq!(beta.state, MonitorState::Pending);
    assert_eq!((beta.state_changed_at, beta.last_checked_at), (None, None));
    assert_eq!(beta.created_at, t(0) + SignedDuration::from_millis(123));
    assert_eq!(beta.updated_at, beta.created_at);

    // the stored name is trimmed; the config is kept as written
    let alpha_cfg = http(" alpha ", "http://a");
    let alpha = s
        .create_monitor(new_id(), &alpha_cfg, MonitorSource::File, t(1))
        .await
        .unwrap();
    assert_eq!(alpha.config, alpha_cfg);
    assert_eq!(alpha.source, MonitorSource::File);
    let mut paused_cfg = http("Gamma", "http://g");
    paused_cfg.paused = true;
    let gamma = s
        .create_monitor(new_id(), &paused_cfg, MonitorSource::Api, t(2))
        .await
        .unwrap();
    assert_eq!(gamma.state, MonitorState::Paused);

    assert_eq!(s.get_monitor(beta_id).await.unwrap(), Some(beta.clone()));
    assert_eq!(s.get_monitor(new_id()).await.unwrap(), None);
    assert_eq!(
        s.get_monitor_by_name("alpha").await.unwrap(),
        Some(alpha.clone())
    );
    assert_eq!(
        s.get_monitor_by_name(" alpha").await.unwrap(),
        Some(alpha.clone())
    );
    assert_eq!(s.get_monitor_by_name("ALPHA").await.unwrap(), None);
    assert_eq!(s.get_monitor_by_name("delta").await.unwrap(), None);

    // ordered by name, the same on both backends (by code point)
    let names: Vec<String> = s
        .list_monitors()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.config.name.trim().to_owned())
        .collect();
    assert_eq!(names, ["Gamma", "alpha", "beta"]);

    let mut edited = http("beta", "http://b");
    edited.tags = vec!["prod".into()];
    edited.policy = Some("p1".into());
    let updated = s.update_monitor(beta_id, &edited, t(5)).await.unwrap();
    assert_eq!(updated.config, edited);
    assert_eq!(updated.source, MonitorSource::Api, "the source is kept");
    assert_eq!(updated.created_at, beta.created_at);
    assert_eq!(updated.updated_at, t(5));
    assert_eq!(updated.state, MonitorState::Pending);
    assert_eq!(s.get_monitor(beta_id).await.unwrap(), Some(updated.clone()));

    // renaming is an update too
    let renamed = s
        .update_monitor(beta_id, &http("bravo", "http://b"), t(6))
        .await
        .unwrap();
    assert_eq!(s.get_monitor_by_name("bravo").await.unwrap(), Some(renamed));
    assert_eq!(s.get_monitor_by_name("beta").await.unwrap(), None);

    assert!(matches!(
        s.update_monitor(new_id(), &edited, t(5)).await,
        Err(StoreError::NotFound)
    ));

    // the config file can take a monitor over
    s.set_monitor_source(beta_id, MonitorSource::File)
        .await
        .unwrap();
    let taken = s.get_monitor(beta_id).await.unwrap().unwrap();
    assert_eq!(taken.source, MonitorSource::File);
    assert_eq!(taken.updated_at, t(6), "a change of owner is not an edit");
    assert!(matches!(
        s.set_monitor_source(new_id(), MonitorSource::File).await,
        Err(StoreError::NotFound)
    ));
    // alpha and beta
    assert_eq!(s.count_monitors_from(MonitorSource::File).await.unwrap(), 2);
    assert_eq!(s.count_monitors_from(MonitorSource::Ping).await.unwrap(), 0);
    s.set_monitor_source(beta_id, MonitorSource::Ping)
        .await
        .unwrap();
    let from_ping = s.get_monitor(beta_id).await.unwrap().unwrap();
    assert_eq!(from_ping.source, MonitorSource::Ping, "\"ping\" reads back");
    assert_eq!(s.count_monitors_from(MonitorSource::Ping).await.unwrap(), 1);
    assert_eq!(s.count_monitors_from(MonitorSource::File).await.unwrap(), 1);

    // Every monitor's id and state alone, as the full list has them.
    s.record_results(&[up(beta_id, "local", t(7))])
        .await
        .unwrap();
    let mut states = s.monitor_states().await.unwrap();
    states.sort_by_key(|(id, _)| *id);
    let mut listed: Vec<(MonitorId, MonitorState)> = s
        .list_monitors()
        .await
        .unwrap()
        .iter()
        .map(|m| (m.id, m.state))
        .collect();
    listed.sort_by_key(|(id, _)| *id);
    assert_eq!(states, listed);
    assert!(states.contains(&(beta_id, MonitorState::Up)));
    assert_eq!(states.len(), 3);

    assert!(s.delete_monitor(beta_id).await.unwrap());
    assert!(!s.delete_monitor(beta_id).await.unwrap());
    assert_eq!(s.get_monitor(beta_id).await.unwrap(), None);
    assert_eq!(s.list_monitors().await.unwrap(), vec![gamma, alpha]);
}

pub(crate) async fn duplicate_names_conflict(db: Db) {
    let s = &db.store;
    let a = create(s, "a").await;
    let msg = assert_conflict(
        s.create_monitor(new_id(), &http("a", "http://x"), MonitorSource::Api, t(1))
            .await,
        "name",
    );
    assert_eq!(msg, "a monitor named \"a\" already exists");
    assert_conflict(
        s.create_monitor(
            new_id(),
            &http("  a ", "http://x"),
            MonitorSource::File,
            t(1),
        )
        .await,
        "name",
    );
    let b = create(s, "b").await;
    assert_conflict(
        s.update_monitor(b.id, &http("a", "http://x"), t(2)).await,
        "name",
    );
    assert_eq!(s.get_monitor(b.id).await.unwrap(), Some(b));
    assert_eq!(s.get_monitor(a.id).await.unwrap(), Some(a.clone()));
    // a re-created id is not a name conflict
    let same_id = s
        .create_monitor(a.id, &http("c", "http://x"), MonitorSource::Api, t(1))
        .await;
    assert!(
        matches!(same_id, Err(StoreError::Database(_))),
        "{same_id:?}"
    );
    // updating a monitor with its own name is fine
    s.update_monitor(a.id, &http("a", "http://y"), t(3))
        .await
        .unwrap();
}

pub(crate) async fn pause_and_resume_reset_state(db: Db) {
    let s = &db.store;
    let m = create(s, "m").await;
    s.record_results(&[up(m.id, "local", t(1)), up(m.id, "eu", t(1))])
        .await
        .unwrap();
    assert_eq!(
        s.get_monitor(m.id).await.unwrap().unwrap().state,
        MonitorState::Up
    );

    let mut cfg = m.config.clone();
    cfg.paused = true;
    let paused = s.update_monitor(m.id, &cfg, t(10)).await.unwrap();
    assert_eq!(paused.state, MonitorState::Paused);
    assert_eq!(paused.state_changed_at, Some(t(10)));
    assert_eq!(
        regions_of(&s.region_states(m.id).await.unwrap()),
        ["eu", "local"]
    );

    // a check that was in flight when the monitor was paused does not un-pause it
    s.record_results(&[check(
        m.id,
        "local",
        t(11),
        Verdict::down(ErrorKind::Connect, "refused"),
        (MonitorState::Down, 2),
        MonitorState::Down,
    )])
    .await
    .unwrap();
    let still = s.get_monitor(m.id).await.unwrap().unwrap();
    assert_eq!(
        (still.state, still.state_changed_at),
        (MonitorState::Paused, Some(t(10)))
    );
    assert_eq!(still.last_checked_at, Some(t(11)));
    assert_eq!(s.count_results(m.id).await.unwrap(), 3);

    // pausing again changes nothing
    let again = s.update_monitor(m.id, &cfg, t(15)).await.unwrap();
    assert_eq!(
        (again.state, again.state_changed_at),
        (MonitorState::Paused, Some(t(10)))
    );

    cfg.paused = false;
    let resumed = s.update_monitor(m.id, &cfg, t(20)).await.unwrap();
    assert_eq!(resumed.state, MonitorState::Pending);
    assert_eq!(resumed.state_changed_at, Some(t(20)));
    assert!(
        s.region_states(m.id).await.unwrap().is_empty(),
        "a resumed monitor starts over"
    );
    assert_eq!(s.count_results(m.id).await.unwrap(), 3, "history is kept");
}

pub(crate) async fn changing_the_target_resets_state(db: Db) {
    let s = &db.store;
    let m = create(s, "m").await;
    s.record_results(&[up(m.id, "local", t(1))]).await.unwrap();

    let mut cosmetic = m.config.clone();
    cosmetic.name = "renamed".into();
    cosmetic.tags = vec!["x".into()];
    cosmetic.depends_on = vec!["other".into()];
    let kept = s.update_monitor(m.id, &cosmetic, t(5)).await.unwrap();
    assert_eq!(
        (kept.state, kept.state_changed_at),
        (MonitorState::Up, Some(t(1)))
    );
    assert_eq!(s.region_states(m.id).await.unwrap().len(), 1);

    let mut moved = cosmetic.clone();
    if let KindConfig::Http(h) = &mut moved.kind {
        h.url = Some("https://elsewhere.example.com/".into());
    }
    let reset = s.update_monitor(m.id, &moved, t(6)).await.unwrap();
    assert_eq!(
        (reset.state, reset.state_changed_at),
        (MonitorState::Pending, Some(t(6)))
    );
    assert!(s.region_states(m.id).await.unwrap().is_empty());

    // so does a change of kind
    s.record_results(&[up(m.id, "local", t(7))]).await.unwrap();
    let tcp = MonitorConfig::new(
        "renamed",
        KindConfig::Tcp(TcpConfig {
            host: Some("db.internal".into()),
            port: Some(5432),
            ..Default::default()
        }),
    );
    let reset = s.update_monitor(m.id, &tcp, t(8)).await.unwrap();
    assert_eq!(reset.state, MonitorState::Pending);
    assert!(s.region_states(m.id).await.unwrap().is_empty());
}

pub(crate) async fn deleting_a_monitor_cascades(db: Db) {
    let s = &db.store;
    let doomed = create(s, "doomed").await;
    let kept = create(s, "kept").await;
    s.record_results(&[
        up(doomed.id, "local", t(1)),
        up(doomed.id, "eu", t(1)),
        up(kept.id, "local", t(1)),
    ])
    .await
    .unwrap();
    assert!(s.delete_monitor(doomed.id).await.unwrap());
    assert_eq!(s.count_results(doomed.id).await.unwrap(), 0);
    assert!(s.region_states(doomed.id).await.unwrap().is_empty());
    let all = s.all_region_states().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].0, kept.id);
    assert_eq!(s.count_results(kept.id).await.unwrap(), 1);
    // the name is free again
    create(s, "doomed").await;
}
