use vigilmon_notify::*;
#[test]
fn preview() {
    let n = Notification {
        event: Event::Trigger,
        dedup_key: "vigilmon-0190".into(),
        incident_id: Some(uuid::Uuid::nil()),
        monitor_id: None,
        monitor_name: "checkout <api>".into(),
        monitor_kind: "http".into(),
        state: "down".into(),
        priority: vigilmon_core::alert::Priority::P1,
        cause: "status 503 is not one of the expected (200)".into(),
        regions: vec![
            RegionEvidence {
                region: "eu-west".into(),
                ok: false,
                error: Some("status 503".into()),
                checked_at: Some("2025-03-01T14:05:09Z".parse().unwrap()),
            },
            RegionEvidence {
                region: "us-east".into(),
                ok: true,
                error: None,
                checked_at: None,
            },
        ],
        opened_at: Some("2025-03-01T14:05:00Z".parse().unwrap()),
        at: "2025-03-01T14:05:10Z".parse().unwrap(),
        duration: None,
        acknowledged_by: None,
        links: Links {
            monitor_url: Some("https://vigil.example/monitors/1".into()),
            incident_url: Some("https://vigil.example/incidents/1".into()),
            ack_url: Some("https://vigil.example/ack/tok".into()),
        },
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&slack::render(&n)).unwrap()
    );
    println!(
        "{}",
        serde_json::to_string_pretty(&pagerduty::render("RK", &n)).unwrap()
    );
    println!(
        "{}",
        serde_json::to_string_pretty(&webhook::render(&n)).unwrap()
    );
    let e = email::render(&n);
    println!("{}\n{}\n{}", e.subject, e.text, e.html);
}
