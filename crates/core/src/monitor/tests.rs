//! Tests of monitor configs: parsing, validation with field names, the wire shape.

use super::*;
use serde_json::{Value, json};

fn cfg(v: Value) -> MonitorConfig {
    serde_json::from_value(v).unwrap()
}

fn fields(r: Result<MonitorSpec, Vec<ValidationError>>) -> Vec<String> {
    r.unwrap_err().into_iter().map(|e| e.field).collect()
}

#[test]
fn minimal_http_gets_defaults() {
    let s = cfg(json!({"name": "api", "type": "http", "url": "https://example.com/health"}))
        .build()
        .unwrap();
    assert_eq!(s.interval, Duration::from_secs(60));
    assert_eq!(s.timeout, Duration::from_secs(10));
    let CheckSpec::Http(h) = s.check else {
        panic!()
    };
    assert_eq!(h.method, "GET");
    assert!(h.follow_redirects && h.verify_tls);
    assert!(h.expect.status.matches(204) && !h.expect.status.matches(301));
    assert_eq!(h.warn.cert_expiry, DEFAULT_CERT_EXPIRY_WARN);
}

#[test]
fn founding_story_monitor_parses() {
    let s = cfg(json!({
        "name": "[redis-primary] cache /health", "type": "http",
        "url": "https://app.example.com/health/redis", "interval": "1m",
        "expect": {"status": [200], "body_contains": "\"status\":\"ok\"", "response_time": "1000ms"},
        "warn": {"response_time": "500ms"}, "policy": "p1-page", "tags": ["cache"]
    }))
    .build()
    .unwrap();
    let CheckSpec::Http(h) = s.check else {
        panic!()
    };
    assert_eq!(h.expect.response_time, Some(Duration::from_millis(1000)));
    assert_eq!(h.warn.response_time, Some(Duration::from_millis(500)));
    assert!(h.expect.status.matches(200) && !h.expect.status.matches(201));
}

#[test]
fn short_interval_names_the_field() {
    let r = cfg(json!({"name": "a", "type": "http", "url": "http://x", "interval": "5s"})).build();
    assert_eq!(fields(r), ["interval"]);
}

#[test]
fn timeout_must_be_below_interval() {
    let r = cfg(json!({"name": "a", "type": "http", "url": "http://x", "interval": "10s", "timeout": "10s"})).build();
    assert_eq!(fields(r), ["timeout"]);
    let s = cfg(json!({"name": "a", "type": "http", "url": "http://x", "interval": "10s"}))
        .build()
        .unwrap();
    assert_eq!(s.timeout, Duration::from_secs(9));
}

#[test]
fn file_urls_are_refused() {
    let r = cfg(json!({"name": "a", "type": "http", "url": "file:///etc/passwd"})).build();
    assert_eq!(fields(r), ["url"]);
}

#[test]
fn status_lists_and_classes() {
    let s = cfg(json!({"name": "a", "type": "http", "url": "http://x", "expect": {"status": [200, "3xx", "404"]}}))
        .build()
        .unwrap();
    let CheckSpec::Http(h) = s.check else {
        panic!()
    };
    assert!(
        h.expect.status.matches(200)
            && h.expect.status.matches(302)
            && h.expect.status.matches(404)
    );
    assert!(!h.expect.status.matches(500));
    assert_eq!(h.expect.status.to_string(), "200, 3xx, 404");
    let r = cfg(json!({"name": "a", "type": "http", "url": "http://x", "expect": {"status": [200, 700, "6xx"]}})).build();
    assert_eq!(fields(r), ["expect.status[1]", "expect.status[2]"]);
}

#[test]
fn bad_regex_and_json_path_are_named() {
    let r = cfg(json!({"name": "a", "type": "http", "url": "http://x",
        "expect": {"body_regex": "(", "json": [{"path": "status", "equals": "ok"}, {"path": "$.a"}]}}))
    .build();
    assert_eq!(
        fields(r),
        ["expect.body_regex", "expect.json[0].path", "expect.json[1]"]
    );
}

#[test]
fn warn_must_be_below_limit() {
    let r = cfg(json!({"name": "a", "type": "http", "url": "http://x",
        "expect": {"response_time": "500ms"}, "warn": {"response_time": "1s"}}))
    .build();
    assert_eq!(fields(r), ["warn.response_time"]);
}

#[test]
fn tcp_requires_host_and_port_and_refuses_http_fields() {
    let r = cfg(json!({"name": "a", "type": "tcp", "url": "http://x", "port": 70000})).build();
    assert_eq!(fields(r), ["url", "host", "port"]);
    let s = cfg(json!({"name": "r", "type": "tcp", "host": "127.0.0.1", "port": 6379, "send": "PING\r\n", "expect": "+PONG"}))
        .build()
        .unwrap();
    let CheckSpec::Tcp(t) = s.check else { panic!() };
    assert_eq!(t.expect_banner.as_deref(), Some("+PONG"));
}

#[test]
fn a_port_typed_into_the_host_is_a_field_error_that_says_where_it_goes() {
    for (host, name, port) in [
        ("127.0.0.1:18090", "127.0.0.1", "18090"),
        ("cache.internal:6379", "cache.internal", "6379"),
        ("[::1]:443", "::1", "443"),
    ] {
        let e = cfg(json!({"name": "a", "type": "tcp", "host": host, "port": 80}))
            .build()
            .unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].field, "host");
        assert_eq!(
            e[0].message,
            format!("must not include the port: write {name} here and {port} in port")
        );
    }
    // IPv6 addresses on their own are hosts.
    for host in ["::1", "[::1]", "fe80::1:2", "2001:db8::8080"] {
        let s = cfg(json!({"name": "a", "type": "tcp", "host": host, "port": 80}))
            .build()
            .unwrap();
        let CheckSpec::Tcp(t) = s.check else { panic!() };
        assert!(t.host.contains(':'), "{host}");
    }
}

#[test]
fn unknown_fields_and_types_are_refused() {
    let e = serde_json::from_value::<MonitorConfig>(
        json!({"name": "a", "type": "http", "urll": "http://x"}),
    )
    .unwrap_err();
    assert!(e.to_string().contains("urll"), "{e}");
    let r = cfg(json!({"name": "a", "type": "ftp"})).build();
    assert_eq!(fields(r), ["type"]);
    let e = serde_json::from_value::<MonitorConfig>(
        json!({"name": "a", "type": "http", "expect": {"stats": 200}}),
    )
    .unwrap_err();
    assert!(e.to_string().contains("stats"), "{e}");
}

#[test]
fn regions_and_quorum() {
    let r = cfg(json!({"name": "a", "type": "http", "url": "http://x", "regions": ["eu", "EU", "eu"], "quorum": 3})).build();
    assert_eq!(fields(r), ["regions[1]", "regions[2]", "quorum"]);
}

#[test]
fn redis_urls() {
    let (a, u, p, db) = parse_redis_url("redis://probe:s%40cret@cache.internal:6380/2").unwrap();
    assert_eq!(
        a,
        RedisAddr::Tcp {
            host: "cache.internal".into(),
            port: 6380,
            tls: false
        }
    );
    assert_eq!(
        (u.as_deref(), p.as_deref(), db),
        (Some("probe"), Some("s@cret"), 2)
    );
    let (a, u, p, db) = parse_redis_url("rediss://:pw@10.0.0.5").unwrap();
    assert_eq!(
        a,
        RedisAddr::Tcp {
            host: "10.0.0.5".into(),
            port: 6379,
            tls: true
        }
    );
    assert_eq!((u, p.as_deref(), db), (None, Some("pw"), 0));
    let (a, _, _, db) = parse_redis_url("unix:///run/redis/redis.sock?db=3").unwrap();
    assert_eq!(
        a,
        RedisAddr::Unix {
            path: "/run/redis/redis.sock".into()
        }
    );
    assert_eq!(db, 3);
    assert!(parse_redis_url("http://x").is_err());
    assert!(parse_redis_url("redis://host/abc").is_err());
}

#[test]
fn redis_monitor_validation() {
    let s = cfg(json!({"name": "r", "type": "redis", "url": "redis://127.0.0.1:6379", "expect_role": "replica", "max_lag": "10s"}))
        .build()
        .unwrap();
    let CheckSpec::Redis(r) = s.check else {
        panic!()
    };
    assert_eq!(r.expect_role, Some(RedisRole::Replica));
    assert_eq!(r.max_lag, Duration::from_secs(10));
    assert_eq!((r.memory_warn, r.memory_critical), (0.90, 0.95));
    let e = cfg(json!({"name": "r", "type": "redis", "url": "redis://h", "memory": {"warn": 0.97}, "expect_role": "leader", "port": 1})).build();
    assert_eq!(fields(e), ["port", "expect_role", "memory.warn"]);
}

#[test]
fn serialisation_roundtrips() {
    let c = cfg(
        json!({"name": "a", "type": "http", "url": "http://x", "expect": {"status": "2xx", "json": [{"path": "$.ok", "equals": true}]}}),
    );
    let back: MonitorConfig = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
    assert_eq!(back, c);
}

#[test]
fn the_common_and_type_fields_are_read_from_the_structs() {
    assert_eq!(
        common_fields(),
        [
            "name",
            "interval",
            "timeout",
            "regions",
            "quorum",
            "confirmations",
            "regional_notice_after",
            "policy",
            "tags",
            "depends_on",
            "paused"
        ]
    );
    for k in KINDS {
        assert!(!k.fields().is_empty(), "{:?}", k.kind);
        for f in k.fields() {
            assert!(
                !common_fields().contains(f),
                "{f} is common and of {:?}",
                k.kind
            );
        }
    }
    assert_eq!(
        KINDS[0].fields(),
        [
            "url",
            "method",
            "headers",
            "public_headers",
            "body",
            "public_body",
            "follow_redirects",
            "verify_tls",
            "expect",
            "warn"
        ]
    );
}

#[test]
fn a_config_is_written_back_as_it_was_read() {
    for v in [
        json!({"name": "a", "type": "http", "url": "https://x", "method": "POST",
               "headers": {"X-A": "1"}, "expect": {"status": [200, "3xx"], "response_time": "2s"},
               "warn": {"cert_expiry": "12h"}, "interval": "30s", "tags": ["t"], "paused": true}),
        json!({"name": "b", "type": "tcp", "host": "db", "port": 5432, "expect": {"banner": "+OK"}}),
        json!({"name": "c", "type": "redis", "url": "redis://h:6379/1", "memory": {"warn": 0.8},
               "expect_role": "primary", "regions": ["eu"], "quorum": 1}),
        json!({"name": "d", "type": "heartbeat", "cron": "0 3 * * *", "tz": "Europe/Berlin",
               "grace": "1h", "slug": "d"}),
        json!({"name": "e", "type": "gopher"}),
    ] {
        let c: MonitorConfig = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&c).unwrap(), v);
    }
}

#[test]
fn errors_name_their_field_whatever_the_order() {
    // As the API reads bodies: from the text (keys in the order written), through the
    // path tracker.
    let path = |text: &str| {
        let de = &mut serde_json::Deserializer::from_str(text);
        let e = serde_path_to_error::deserialize::<_, MonitorConfig>(de).unwrap_err();
        (e.path().to_string(), e.inner().to_string())
    };
    // A common field, before or after the type.
    assert_eq!(
        path(r#"{"name":"a","interval":30,"type":"http"}"#).0,
        "interval"
    );
    assert_eq!(
        path(r#"{"name":"a","type":"http","interval":30}"#).0,
        "interval"
    );
    // A type's own field, deep inside.
    assert_eq!(
        path(r#"{"name":"a","type":"http","expect":{"status":[200],"stats":1}}"#).0,
        "expect.stats"
    );
    assert_eq!(
        path(r#"{"name":"a","type":"http","expect":{"response_time":5}}"#).0,
        "expect.response_time"
    );
    assert_eq!(
        path(r#"{"name":"a","type":"tcp","host":"h","port":"x"}"#).0,
        "port"
    );
    // Before the type, the message names it.
    let (_, m) = path(r#"{"name":"a","port":"x","type":"tcp"}"#);
    assert!(m.starts_with("port: "), "{m}");
    // Unknown anywhere, missing, twice.
    assert!(
        path(r#"{"name":"a","type":"tcp","hots":"h"}"#)
            .1
            .contains("`hots`")
    );
    assert!(
        path(r#"{"name":"a","hots":"h","type":"tcp"}"#)
            .1
            .contains("`hots`")
    );
    assert!(path(r#"{"type":"tcp"}"#).1.contains("missing field `name`"));
    assert!(path(r#"{"name":"a"}"#).1.contains("missing field `type`"));
    assert!(
        path(r#"{"name":"a","type":"tcp","name":"b"}"#)
            .1
            .contains("duplicate field `name`")
    );
}

#[test]
fn fields_of_another_type_are_refused_by_name_when_built() {
    let c =
        cfg(json!({"name": "a", "type": "heartbeat", "host": "h", "every": "1m", "timeout": "5s"}));
    assert_eq!(c.foreign_fields, ["host"]);
    assert_eq!(fields(c.build()), ["timeout", "host"]);
    let c =
        cfg(json!({"name": "a", "type": "http", "url": "http://x", "expect": {"banner": "+OK"}}));
    assert_eq!(fields(c.build()), ["expect.banner"]);
    // An unknown type reads (a newer version's monitor) but does not build.
    let c = cfg(json!({"name": "a", "type": "gopher", "host": "mx", "interval": "1m"}));
    assert_eq!(c.kind, KindConfig::Unknown("gopher".into()));
    assert_eq!(fields(c.build()), ["type"]);
}

#[test]
fn a_value_presented_type_first_keeps_its_paths() {
    // A `Value` sorts its keys: `expect` before `type`.
    let v = json!({"name": "a", "type": "http", "expect": {"stats": 1}});
    let e = serde_path_to_error::deserialize::<_, MonitorConfig>(crate::tagged::type_first(v))
        .unwrap_err();
    assert_eq!(e.path().to_string(), "expect.stats");
    let v = json!({"name": "a", "type": "http", "url": "http://x", "tags": ["t"]});
    let c: MonitorConfig = serde::Deserialize::deserialize(crate::tagged::type_first(v)).unwrap();
    assert_eq!(c.kind.url(), Some("http://x"));
}

#[test]
fn the_write_probe_key_is_always_under_the_vigilmon_prefix() {
    let key = |k: Option<&str>| {
        let mut v = json!({"name": "r", "type": "redis", "url": "redis://h", "write_probe": true});
        if let Some(k) = k {
            v["write_probe_key"] = json!(k);
        }
        let CheckSpec::Redis(r) = cfg(v).build().unwrap().check else {
            panic!("a redis spec")
        };
        r.write_probe_key
    };
    assert_eq!(key(None), "vigilmon:probe");
    assert_eq!(key(Some("vigilmon:canary")), "vigilmon:canary");
    assert_eq!(key(Some("session:42")), "vigilmon:session:42");
}

/// A JSONPath cut short inside an escape made the parser panic; it is refused like any
/// invalid path, naming the field.
#[test]
fn a_json_path_cut_inside_an_escape_is_refused_not_a_panic() {
    for path in [r"$['a\u", r"$['a\u00", r#"$["a\"#, "$['a"] {
        let r = cfg(json!({"name": "a", "type": "http", "url": "http://x",
            "expect": {"json": [{"path": path, "exists": true}]}}))
        .build();
        assert_eq!(fields(r), ["expect.json[0].path"], "{path}");
    }
}

/// Brackets and parentheses nested without end made the JSONPath parser backtrack for
/// seconds; such paths, and overlong ones, are refused before it runs. Ordinary
/// filters are still accepted.
#[test]
fn a_json_path_nested_without_end_is_refused_before_parsing() {
    let deep = format!("$.a{}", "[?@.b".repeat(30));
    let parens = format!("$[?{}@.a", "(".repeat(30));
    let long = format!("$.{}", "a".repeat(2000));
    for path in [deep.as_str(), parens.as_str(), long.as_str()] {
        let r = cfg(json!({"name": "a", "type": "http", "url": "http://x",
            "expect": {"json": [{"path": path, "exists": true}]}}))
        .build();
        assert_eq!(fields(r), ["expect.json[0].path"], "{path}");
    }
    let fine = "$.checks[?@.name == 'db' && (@.ok == true || @.degraded == false)].status";
    assert!(
        cfg(json!({"name": "a", "type": "http", "url": "http://x",
            "expect": {"json": [{"path": fine, "exists": true}]}}))
        .build()
        .is_ok()
    );
}

#[test]
fn postgres_urls() {
    let t = parse_postgres_url("postgres://mon:p%40ss+w@db.internal:6432/app?sslmode=verify-full")
        .unwrap();
    assert_eq!(t.host, "db.internal");
    assert_eq!(t.port, 6432);
    assert_eq!(t.user, "mon");
    assert_eq!(t.password.as_deref(), Some("p@ss+w"));
    assert_eq!(t.database, "app");
    assert_eq!(t.sslmode, PgSslMode::VerifyFull);
    let t = parse_postgres_url("postgresql://[::1]").unwrap();
    assert_eq!(
        (
            t.host.as_str(),
            t.port,
            t.user.as_str(),
            t.database.as_str()
        ),
        ("::1", 5432, "postgres", "postgres")
    );
    assert_eq!(t.sslmode, PgSslMode::Prefer);
    assert!(parse_postgres_url("mysql://h").is_err());
    assert!(parse_postgres_url("postgres://h/a/b").is_err());
    assert!(parse_postgres_url("postgres://h?sslmode=allow").is_err());
    assert!(parse_postgres_url("postgres://h?connect_timeout=3").is_err());
}

#[test]
fn postgres_monitor_validation() {
    let s = cfg(json!({"name": "db", "type": "postgres", "url": "postgres://127.0.0.1/app"}))
        .build()
        .unwrap();
    let CheckSpec::Postgres(p) = s.check else {
        panic!("a postgres spec")
    };
    assert_eq!(p.query, DEFAULT_QUERY);
    assert_eq!(p.expect_value, None);
    let s = cfg(
        json!({"name": "db", "type": "postgres", "url": "postgres://h/app",
        "query": "SELECT count(*) FROM jobs", "expect": {"value": 0, "response_time": "2s"},
        "warn": {"response_time": "1s"}}),
    )
    .build()
    .unwrap();
    let CheckSpec::Postgres(p) = s.check else {
        panic!("a postgres spec")
    };
    assert_eq!(p.expect_value.as_deref(), Some("0"));
    assert_eq!(p.response_time, Some(Duration::from_secs(2)));

    let e = cfg(json!({"name": "db", "type": "postgres", "query": " ",
        "expect": {"value": [1], "status": [200]}, "warn": {"cert_expiry": "3d"}, "host": "h"}))
    .build();
    let mut got = fields(e);
    got.sort();
    assert_eq!(
        got,
        [
            "expect.status",
            "expect.value",
            "host",
            "query",
            "url",
            "warn.cert_expiry"
        ]
    );
    let e = cfg(json!({"name": "db", "type": "postgres", "url": "redis://h"})).build();
    assert_eq!(fields(e), ["url"]);
    // `expect.value` belongs to database monitors only.
    let e =
        cfg(json!({"name": "t", "type": "tcp", "host": "h", "port": 1, "expect": {"value": 1}}))
            .build();
    assert_eq!(fields(e), ["expect.value"]);
}

#[test]
fn a_postgres_password_is_a_secret() {
    use crate::secret::Secrets;
    let mut c =
        cfg(json!({"name": "db", "type": "postgres", "url": "postgres://mon:hunter2@h/app"}));
    let mut seen = Vec::new();
    c.visit_secrets(&mut |path, _, v| seen.push((path.to_owned(), v.clone())));
    assert_eq!(
        seen,
        [("url".to_owned(), "postgres://mon:hunter2@h/app".to_owned())]
    );
    assert_eq!(c.target_words(), "postgres://mon:********@h/app");
}

#[test]
fn mysql_urls_and_validation() {
    let t = parse_mysql_url("mysql://mon:p%40ss@db.internal:3307/shop?ssl-mode=verify_identity")
        .unwrap();
    assert_eq!(
        (t.host.as_str(), t.port, t.user.as_str()),
        ("db.internal", 3307, "mon")
    );
    assert_eq!(t.password.as_deref(), Some("p@ss"));
    assert_eq!(t.database.as_deref(), Some("shop"));
    assert_eq!(t.ssl_mode, MysqlSslMode::VerifyIdentity);
    let t = parse_mysql_url("mysql://127.0.0.1").unwrap();
    assert_eq!((t.user.as_str(), t.port), ("root", 3306));
    assert_eq!((t.database, t.ssl_mode), (None, MysqlSslMode::Preferred));
    assert!(parse_mysql_url("postgres://h").is_err());
    assert!(parse_mysql_url("mysql://h?ssl-mode=sometimes").is_err());
    assert!(parse_mysql_url("mysql://h?sslmode=disable").is_err());

    let s = cfg(
        json!({"name": "db", "type": "mysql", "url": "mysql://root@127.0.0.1/",
        "expect": {"value": "1"}}),
    )
    .build()
    .unwrap();
    let CheckSpec::Mysql(m) = s.check else {
        panic!("a mysql spec")
    };
    assert_eq!(m.query, DEFAULT_QUERY);
    assert_eq!(m.expect_value.as_deref(), Some("1"));
    let e =
        cfg(json!({"name": "db", "type": "mysql", "query": "", "expect": {"banner": "x"}})).build();
    let mut got = fields(e);
    got.sort();
    assert_eq!(got, ["expect.banner", "query", "url"]);
    let mut c = cfg(json!({"name": "db", "type": "mysql", "url": "mysql://mon:hunter2@h/app"}));
    assert_eq!(c.target_words(), "mysql://mon:********@h/app");
    let mut seen = Vec::new();
    crate::secret::Secrets::visit_secrets(&mut c, &mut |path, _, _| seen.push(path.to_owned()));
    assert_eq!(seen, ["url"]);
}

#[test]
fn tls_monitor_validation() {
    let s = cfg(json!({"name": "cert", "type": "tls", "host": "example.com"}))
        .build()
        .unwrap();
    let CheckSpec::Tls(t) = s.check else {
        panic!("a tls spec")
    };
    assert_eq!(
        (t.port, t.starttls, t.min_version),
        (443, None, TlsVersion::V1_2)
    );
    assert_eq!(t.cert_expiry_warn, DEFAULT_CERT_EXPIRY_WARN);
    let s = cfg(
        json!({"name": "mx", "type": "tls", "host": "mx.example.com", "starttls": "smtp",
        "min_version": "1.3", "issuer": "Let's Encrypt",
        "expect": {"cert_expiry": "7d"}, "warn": {"cert_expiry": "21d"}}),
    )
    .build()
    .unwrap();
    let CheckSpec::Tls(t) = s.check else {
        panic!("a tls spec")
    };
    assert_eq!((t.port, t.starttls), (25, Some(StartTls::Smtp)));
    assert_eq!(t.cert_expiry_down, Some(Duration::from_secs(7 * 86_400)));
    let e = cfg(json!({"name": "x", "type": "tls", "host": "h:443", "starttls": "imap",
        "min_version": "1.1", "issuer": " ", "port": 0,
        "expect": {"cert_expiry": "30d", "status": [200]}, "warn": {"cert_expiry": "14d"}, "url": "https://h"}))
    .build();
    let mut got = fields(e);
    got.sort();
    assert_eq!(
        got,
        [
            "expect.cert_expiry",
            "expect.status",
            "host",
            "issuer",
            "min_version",
            "port",
            "starttls",
            "url"
        ]
    );
    // `expect.cert_expiry` belongs to tls monitors.
    let e = cfg(
        json!({"name": "w", "type": "http", "url": "https://h", "expect": {"cert_expiry": "3d"}}),
    )
    .build();
    assert_eq!(fields(e), ["expect.cert_expiry"]);
}

#[test]
fn smtp_monitor_validation() {
    let s = cfg(json!({"name": "mx", "type": "smtp", "host": "mx.example.com"}))
        .build()
        .unwrap();
    let CheckSpec::Smtp(m) = s.check else {
        panic!("an smtp spec")
    };
    assert_eq!((m.port, m.tls, m.verify_tls), (25, SmtpTls::StartTls, true));
    let s = cfg(
        json!({"name": "mx", "type": "smtp", "host": "mx.example.com", "tls": "implicit",
        "expect": {"banner": "ESMTP", "cert_expiry": "3d"}}),
    )
    .build()
    .unwrap();
    let CheckSpec::Smtp(m) = s.check else {
        panic!("an smtp spec")
    };
    assert_eq!((m.port, m.tls), (465, SmtpTls::Implicit));
    assert_eq!(m.expect_banner.as_deref(), Some("ESMTP"));
    let e = cfg(
        json!({"name": "mx", "type": "smtp", "tls": "none", "verify_tls": false,
        "expect": {"cert_expiry": "3d", "value": 1}, "starttls": "smtp"}),
    )
    .build();
    let mut got = fields(e);
    got.sort();
    assert_eq!(
        got,
        [
            "expect.cert_expiry",
            "expect.value",
            "host",
            "starttls",
            "verify_tls"
        ]
    );
    let e = cfg(json!({"name": "mx", "type": "smtp", "host": "h", "tls": "ssl"})).build();
    assert_eq!(fields(e), ["tls"]);
}

#[test]
fn dns_monitor_validation_and_canonical_values() {
    let s = cfg(
        json!({"name": "d", "type": "dns", "query": "Example.COM.", "record": "mx",
        "resolver": "127.0.0.1:5353",
        "expect": {"values": ["10  Mail.Example.com."], "exact": true}}),
    )
    .build()
    .unwrap();
    let CheckSpec::Dns(d) = s.check else {
        panic!("a dns spec")
    };
    assert_eq!(d.query, "example.com");
    assert_eq!(d.record, DnsRecord::Mx);
    assert_eq!(d.resolver, Some("127.0.0.1:5353".parse().unwrap()));
    assert_eq!(d.values, ["10 mail.example.com"]);
    assert_eq!(d.rcode, "NOERROR");
    let s = cfg(json!({"name": "d", "type": "dns", "query": "h", "resolver": "::1"}))
        .build()
        .unwrap();
    let CheckSpec::Dns(d) = s.check else {
        panic!("a dns spec")
    };
    assert_eq!(d.resolver, Some("[::1]:53".parse().unwrap()));
    assert_eq!(d.record, DnsRecord::A);

    assert_eq!(
        canonical_value(DnsRecord::Aaaa, "2001:DB8::1").unwrap(),
        "2001:db8::1"
    );
    assert_eq!(
        canonical_value(DnsRecord::Caa, "0 ISSUE \"letsencrypt.org\"").unwrap(),
        "0 issue letsencrypt.org"
    );
    assert_eq!(
        canonical_value(
            DnsRecord::Soa,
            "ns1.Example.com. host.example.com. 1 2 3 4 5"
        )
        .unwrap(),
        "ns1.example.com host.example.com 1 2 3 4 5"
    );
    assert!(canonical_value(DnsRecord::A, "::1").is_err());

    let e = cfg(
        json!({"name": "d", "type": "dns", "record": "SRV", "resolver": "dns.google",
        "expect": {"exact": true, "rcode": "MAYBE", "banner": "x"}, "host": "h"}),
    )
    .build();
    let mut got = fields(e);
    got.sort();
    assert_eq!(
        got,
        [
            "expect.banner",
            "expect.exact",
            "expect.rcode",
            "host",
            "query",
            "record",
            "resolver"
        ]
    );
    let e = cfg(json!({"name": "d", "type": "dns", "query": "a..b",
        "expect": {"values": ["not-an-ip"]}}))
    .build();
    assert_eq!(fields(e), ["query", "expect.values[0]"]);
}

#[test]
fn grpc_monitor_validation() {
    let s = cfg(json!({"name": "g", "type": "grpc", "url": "grpc://api.internal:50051"}))
        .build()
        .unwrap();
    let CheckSpec::Grpc(g) = s.check else {
        panic!("a grpc spec")
    };
    assert_eq!(
        (g.host.as_str(), g.port, g.tls),
        ("api.internal", 50051, false)
    );
    assert_eq!(g.service, "");
    assert!(g.verify_tls && g.metadata.is_empty());
    assert_eq!(g.cert_expiry_warn, DEFAULT_CERT_EXPIRY_WARN);
    assert_eq!(g.target(), "grpc://api.internal:50051");

    let s = cfg(json!({"name": "g", "type": "grpc", "url": "grpcs://[::1]/",
        "service": "billing.v1.Billing", "verify_tls": false,
        "metadata": {"Authorization": "Bearer t0ken", "x-tenant": "a"},
        "expect": {"response_time": "2s"}, "warn": {"response_time": "1s", "cert_expiry": "30d"}}))
    .build()
    .unwrap();
    let CheckSpec::Grpc(g) = s.check else {
        panic!("a grpc spec")
    };
    assert_eq!((g.host.as_str(), g.port, g.tls), ("::1", 443, true));
    assert_eq!(g.target(), "grpcs://[::1]:443");
    assert_eq!(g.service, "billing.v1.Billing");
    assert!(!g.verify_tls);
    assert_eq!(
        g.metadata,
        [
            ("authorization".to_owned(), "Bearer t0ken".to_owned()),
            ("x-tenant".to_owned(), "a".to_owned())
        ]
    );
    assert_eq!(g.cert_expiry_warn, Duration::from_secs(30 * 86_400));

    // The metadata values are secrets.
    let c = cfg(json!({"name": "g", "type": "grpc", "url": "grpc://h:1",
        "metadata": {"authorization": "Bearer t0ken"}}));
    let shown = crate::secret::masked(&c);
    assert_eq!(
        shown.kind.as_grpc().unwrap().metadata.as_ref().unwrap()["authorization"],
        crate::secret::MASK
    );

    let e = cfg(json!({"name": "g", "type": "grpc"})).build();
    assert_eq!(fields(e), ["url"]);
    for (url, words) in [
        ("http://h:1", "scheme \"http\" is not allowed"),
        ("grpc://user:pw@h:1", "send credentials as metadata"),
        ("grpc://h:1/grpc.health.v1.Health/Check", "path is fixed"),
        ("grpc://h:0", "between 1 and 65535"),
        ("grpc://", "must include a host"),
    ] {
        let e = cfg(json!({"name": "g", "type": "grpc", "url": url}))
            .build()
            .unwrap_err();
        assert_eq!(e.len(), 1, "{url}: {e:?}");
        assert_eq!(e[0].field, "url");
        assert!(e[0].message.contains(words), "{url}: {}", e[0].message);
    }
    let e = cfg(json!({"name": "g", "type": "grpc", "url": "grpc://h:1", "verify_tls": true,
        "service": "a\nb", "host": "h",
        "metadata": {"grpc-timeout": "1S", "te": "x", "bad name": "v", "x-bin": "AA==", "ok": "line\nbreak"},
        "expect": {"status": 200}, "warn": {"cert_expiry": "3d"}}))
    .build();
    let mut got = fields(e);
    got.sort();
    assert_eq!(
        got,
        [
            "expect.status",
            "host",
            "metadata.bad name",
            "metadata.grpc-timeout",
            "metadata.ok",
            "metadata.te",
            "metadata.x-bin",
            "service",
            "verify_tls",
            "warn.cert_expiry"
        ]
    );
}

#[test]
fn websocket_monitor_validation() {
    let s = cfg(json!({"name": "feed", "type": "websocket", "url": "wss://feed.example.com/ws"}))
        .build()
        .unwrap();
    let CheckSpec::Websocket(w) = s.check else {
        panic!("a websocket spec")
    };
    assert!(w.verify_tls && !w.reply.is_set() && w.send.is_none());
    assert_eq!(
        (w.certificate.host.as_str(), w.certificate.port),
        ("feed.example.com", 443)
    );
    let s = cfg(
        json!({"name": "echo", "type": "websocket", "url": "ws://[::1]:9001/echo",
        "headers": {"Authorization": "Bearer t"}, "subprotocol": "chat.v1", "send": "ping",
        "expect": {"reply_equals": "pong", "reply_regex": "^p", "response_time": "2s"}}),
    )
    .build()
    .unwrap();
    let CheckSpec::Websocket(w) = s.check else {
        panic!("a websocket spec")
    };
    assert_eq!(
        w.headers,
        [("Authorization".to_owned(), "Bearer t".to_owned())]
    );
    assert_eq!(w.subprotocol.as_deref(), Some("chat.v1"));
    assert_eq!(w.reply.equals.as_deref(), Some("pong"));
    assert_eq!(w.certificate.port, 9001);
    let e = cfg(json!({"name": "x", "type": "websocket", "url": "https://example.com/ws"})).build();
    assert_eq!(fields(e), ["url"]);
    let e = cfg(json!({"name": "x", "type": "websocket"})).build();
    assert_eq!(fields(e), ["url"]);
    let e = cfg(json!({"name": "x", "type": "websocket", "url": "ws://h/",
        "verify_tls": false, "warn": {"cert_expiry": "3d"},
        "headers": {"Sec-WebSocket-Key": "x", "bad name": "y"}, "subprotocol": "a b",
        "send": "", "expect": {"reply_regex": "(", "reply_contains": "", "status": 200}}))
    .build();
    let mut got = fields(e);
    got.sort();
    assert_eq!(
        got,
        [
            "expect.reply_contains",
            "expect.reply_regex",
            "expect.status",
            "headers.Sec-WebSocket-Key",
            "headers.bad name",
            "send",
            "subprotocol",
            "verify_tls",
            "warn.cert_expiry",
        ]
    );
    let e = cfg(json!({"name": "x", "type": "tcp", "host": "h", "port": 1,
        "expect": {"reply_equals": "a"}}))
    .build();
    assert_eq!(fields(e), ["expect.reply_equals"]);
}

#[test]
fn a_websocket_url_password_and_headers_are_secrets() {
    let c = cfg(json!({"name": "feed", "type": "websocket",
        "url": "wss://app:s3cret@feed.example.com/ws", "headers": {"X-Token": "t0k3n"}}));
    let shown = serde_json::to_value(crate::secret::masked(&c)).unwrap();
    assert_eq!(shown["url"], "wss://app:********@feed.example.com/ws");
    assert_eq!(shown["headers"]["X-Token"], "********");
    assert_eq!(c.target_words(), "wss://app:********@feed.example.com/ws");
}

fn ws_spec(extra: Value) -> WebsocketSpec {
    let mut base = json!({"name": "ws", "type": "websocket", "url": "wss://feed.example.com/"});
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    match serde_json::from_value::<MonitorConfig>(base)
        .unwrap()
        .build()
        .unwrap()
        .check
    {
        CheckSpec::Websocket(s) => s,
        _ => panic!("a websocket spec"),
    }
}

#[test]
fn websocket_certificate_then_reply_then_time() {
    use crate::assert::{TlsFacts, WebsocketFacts, evaluate_websocket};
    use crate::{ErrorKind, Verdict};
    use jiff::Timestamp;
    let now = Timestamp::from_second(1_800_000_000).unwrap();
    let cert = TlsFacts {
        chain_error: Some("unknown issuer".into()),
        name_error: None,
        issuer: "CN=test".into(),
        not_after: Some(Timestamp::from_second(1_800_000_000 + 5 * 86_400).unwrap()),
        version: TlsVersion::V1_3,
    };
    let fast = Duration::from_millis(5);
    let facts = |reply: &str| WebsocketFacts {
        certificate: Some(cert.clone()),
        reply: Some(reply.to_owned()),
        elapsed: fast,
    };
    let s = ws_spec(json!({"expect": {"reply_contains": "pong"}}));
    assert_eq!(
        evaluate_websocket(&s, &facts("pong"), now),
        Verdict::down(
            ErrorKind::Tls,
            "the certificate is not trusted: unknown issuer"
        )
    );
    let lax = ws_spec(json!({"verify_tls": false, "expect": {"reply_contains": "pong"}}));
    assert_eq!(
        evaluate_websocket(&lax, &facts("a pong"), now),
        Verdict::degraded("the certificate expires in 5 days, within 14 days")
    );
    assert_eq!(
        evaluate_websocket(&lax, &facts("nothing"), now),
        Verdict::down(
            ErrorKind::Assertion,
            "expected the reply to contain \"pong\", got \"nothing\""
        )
    );
    let exact = ws_spec(
        json!({"url": "ws://h/", "expect": {"reply_equals": "pong", "reply_regex": "^po"}}),
    );
    let plain = |reply: &str, ms: u64| WebsocketFacts {
        certificate: None,
        reply: Some(reply.to_owned()),
        elapsed: Duration::from_millis(ms),
    };
    assert_eq!(
        evaluate_websocket(&exact, &plain("pong", 1), now),
        Verdict::Up
    );
    assert_eq!(
        evaluate_websocket(&exact, &plain("pong!", 1), now),
        Verdict::down(
            ErrorKind::Assertion,
            "expected the reply \"pong\", got \"pong!\""
        )
    );
    let re = ws_spec(
        json!({"url": "ws://h/", "expect": {"reply_regex": "^\\d+$"},
        "warn": {"response_time": "100ms"}}),
    );
    assert_eq!(
        evaluate_websocket(&re, &plain("x1", 1), now),
        Verdict::down(
            ErrorKind::Assertion,
            "expected the reply to match /^\\d+$/, got \"x1\""
        )
    );
    assert_eq!(
        evaluate_websocket(&re, &plain("12", 200), now),
        Verdict::degraded("response took 200 ms, over the 100 ms limit")
    );
    let slow = ws_spec(json!({"url": "ws://h/", "expect": {"response_time": "100ms"}}));
    assert!(matches!(
        evaluate_websocket(&slow, &plain("", 101), now),
        Verdict::Down {
            kind: ErrorKind::Assertion,
            ..
        }
    ));
    assert_eq!(evaluate_websocket(&slow, &plain("", 100), now), Verdict::Up);
}
