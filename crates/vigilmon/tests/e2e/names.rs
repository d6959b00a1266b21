//! `dns` monitors through the real binary, on both stores, against a real DNS server
//! started by the test (a responder built on hickory-proto, `test_support::DnsServer`):
//! from the config file, through the API (a missing value, a name that must not
//! exist), the form's "Test now", and `vigilmon check dns://…`.

use serde_json::json;
use test_support::{Backend, DnsServer, Server, StoreFixture, run_cli};

use crate::ui::{OWNER, PASSWORD, Web};
use crate::{bin, both_backends};

async fn dns_monitors_end_to_end(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let dns = DnsServer::start().await;
    let config = format!(
        r#"
monitors:
  - {{ name: shop apex, type: dns, query: shop.test, resolver: "{r}", interval: 1h, expect: {{ values: [192.0.2.10, 192.0.2.11], exact: true }} }}
  - {{ name: shop mail, type: dns, query: shop.test, record: MX, resolver: "{r}", interval: 1h, expect: {{ values: ["10 MX1.shop.test."] }} }}
"#,
        r = dns.addr
    );
    let path = store.dir.path().join("vigilmon.yaml");
    std::fs::write(&path, config).unwrap();
    let server = Server::start(
        bin(),
        &store,
        &["--config".into(), path.display().to_string()],
    );
    let (_, list) = server.get("/api/v1/monitors").await;
    let id_of = |name: &str| {
        list["monitors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .and_then(|m| m["id"].as_str())
            .unwrap_or_else(|| panic!("{name}: {list}"))
            .to_owned()
    };
    for name in ["shop apex", "shop mail"] {
        let (code, c) = server
            .post(
                &format!("/api/v1/monitors/{}/check-now", id_of(name)),
                &json!({}),
            )
            .await;
        assert_eq!(code, 200, "{c}");
        assert_eq!(c["state"], "up", "{name}: {c}");
        assert!(c["result"]["phases"]["ttfb_ms"].is_u64(), "{c}");
        assert_eq!(c["result"]["details"]["rcode"], "NOERROR", "{c}");
    }

    // Through the API: a value the answer lacks, and a name that must not exist.
    let r = dns.addr.to_string();
    let (status, m) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "moved", "type": "dns", "query": "shop.test", "resolver": r,
                "expect": {"values": ["192.0.2.99"]}}),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    let (_, c) = server
        .post(
            &format!("/api/v1/monitors/{}/check-now", m["id"].as_str().unwrap()),
            &json!({}),
        )
        .await;
    assert_eq!(c["result"]["error_kind"], "assertion", "{c}");
    assert_eq!(
        c["result"]["error"], "A shop.test lacks 192.0.2.99; it holds 192.0.2.10, 192.0.2.11",
        "{c}"
    );
    let (status, m) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "retired", "type": "dns", "query": "old.shop.test", "resolver": r,
                "expect": {"rcode": "NXDOMAIN"}}),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    let (_, c) = server
        .post(
            &format!("/api/v1/monitors/{}/check-now", m["id"].as_str().unwrap()),
            &json!({}),
        )
        .await;
    assert_eq!(c["result"]["ok"], true, "{c}");
    let (status, e) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "typo", "type": "dns", "query": "shop.test", "record": "SRV", "resolver": "dns.google"}),
        )
        .await;
    assert_eq!(status, 422, "{e}");
    let text = e.to_string();
    assert!(
        text.contains("record") && text.contains("resolver"),
        "{text}"
    );

    // The form's "Test now", with and without expected values.
    let mut web = Web::new(&server);
    let csrf = web.sign_in(OWNER, PASSWORD).await;
    for values in ["", "10 mx1.shop.test"] {
        let form = [
            ("_csrf", csrf.as_str()),
            ("type", "dns"),
            ("name", "dns from the form"),
            ("query", "shop.test"),
            ("record", "MX"),
            ("resolver", r.as_str()),
            ("expect.values", values),
            ("action", "test"),
        ];
        let page = web.post("/monitors/new", &form, Some(&server.url)).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("Test result"), "{}", page.body);
        assert!(page.body.contains("mx1.shop.test"), "{}", page.body);
    }
}

both_backends!(dns_monitors, dns_monitors_end_to_end);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_asks_a_resolver_from_the_terminal() {
    let dns = DnsServer::start().await;
    let args = vec![
        "check".to_owned(),
        "dns://shop.test".to_owned(),
        "--record".to_owned(),
        "TXT".to_owned(),
        "--resolver".to_owned(),
        dns.addr.to_string(),
        "--expect-value".to_owned(),
        "v=spf1 -all".to_owned(),
    ];
    let (code, out, err) = tokio::task::spawn_blocking(move || run_cli(bin(), &args, None))
        .await
        .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verdict: UP"), "{out}");
    assert!(out.contains("answer      v=spf1 -all"), "{out}");
}
