//! `vigilmon check TARGET`: one probe from the terminal, printed phase by phase.
//!
//! Targets: `http(s)://…`, `tcp://host:port`, Redis (`redis://`, `rediss://`,
//! `unix://`), whose checks print the figures they judged (memory, role, replication,
//! evictions, write probe) before the verdict, and PostgreSQL (`postgres://`) and
//! MySQL (`mysql://`), whose checks print the server's version, the login and query
//! times and the value read, and a server's certificate alone (`tls://host[:port]`,
//! `--starttls smtp`), printing its issuer, names, expiry and protocol, and a mail
//! server (`smtp://host[:port]` with STARTTLS, `smtps://` with implicit TLS), and a
//! DNS name (`dns://name`, `--record`, `--resolver`), a gRPC server's health
//! (`grpc://host[:port]`, `grpcs://` over TLS, `--service`, `--header` as metadata),
//! an MQTT broker (`mqtt://`, `mqtts://`, a round trip with `--topic`), an AMQP broker
//! (`amqp://`, `amqps://`), a WebSocket (`ws://`, `wss://`, `--send`,
//! `--expect-reply`, `--subprotocol`), printing the reply, and a host's answer to ping
//! (`icmp://host`, `--count`).

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Args;
use serde_json::json;
use vigilmon_app::views::ResultView;
use vigilmon_core::monitor::{
    AmqpConfig, CheckSpec, DnsConfig, GrpcConfig, HttpConfig, IcmpConfig, MqttConfig,
    MqttPublishConfig, MysqlConfig, PostgresConfig, RedisAddr, SmtpConfig, TcpConfig, TlsConfig,
    WebsocketConfig,
};
use vigilmon_core::{
    CheckResult, HumanDuration, KindConfig, MonitorConfig, MonitorState, RegionName, Verdict,
};
use vigilmon_probe::{ProbeOptions, Prober};

use crate::exit;
use crate::redis_health::RedisFlags;
use vigilmon_probe::read_ca_file;

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// What to probe: http(s)://…, tcp://host:port, redis://[user:pass@]host:port/db,
    /// rediss://…, unix:///path/to/redis.sock, or
    /// postgres://[user[:pass]@]host[:port]/database[?sslmode=…] and
    /// mysql://[user[:pass]@]host[:port]/database[?ssl-mode=…], or
    /// tls://host[:port] for a certificate alone, smtp://host[:port] (STARTTLS) or
    /// smtps://host[:port] (implicit TLS) for a mail server, dns://name,
    /// grpc://host[:port] and grpcs://host[:port] (TLS) for a gRPC server's health, or
    /// mqtt://[user[:pass]@]host[:port] and mqtts://… for an MQTT broker,
    /// amqp://[user[:pass]@]host[:port][/vhost] and amqps://… for an AMQP broker, ws://…
    /// and wss://… for a WebSocket, or icmp://host to ping it.
    pub target: String,
    /// icmp:// targets: the echo requests to send [default: 3].
    #[arg(long)]
    pub count: Option<u32>,
    /// ws:// and wss:// targets: a text message to send once the WebSocket is open.
    #[arg(long)]
    pub send: Option<String>,
    /// ws:// and wss:// targets: text the first message from the server must contain.
    #[arg(long)]
    pub expect_reply: Option<String>,
    /// ws:// and wss:// targets: the subprotocol to ask for.
    #[arg(long)]
    pub subprotocol: Option<String>,
    /// mqtt:// targets: publish a message on this topic and expect it back.
    #[arg(long)]
    pub topic: Option<String>,
    /// dns:// targets: the record type [default: A].
    #[arg(long)]
    pub record: Option<String>,
    /// dns:// targets: the resolver, ip[:port] [default: the system's].
    #[arg(long)]
    pub resolver: Option<String>,
    /// grpc:// and grpcs:// targets: the service whose health is asked for
    /// [default: the server as a whole].
    #[arg(long)]
    pub service: Option<String>,
    /// tls:// targets: speak this protocol up to STARTTLS first (smtp).
    #[arg(long, value_name = "PROTOCOL")]
    pub starttls: Option<String>,
    /// PostgreSQL and MySQL targets: the query to run [default: SELECT 1].
    #[arg(long)]
    pub query: Option<String>,
    /// PostgreSQL and MySQL targets: the text the first column of the first row must
    /// equal; dns:// targets: a value the answer must hold.
    #[arg(long)]
    pub expect_value: Option<String>,
    /// Accepted status codes or classes, comma-separated (e.g. 200,3xx) [default: 2xx].
    #[arg(long, value_delimiter = ',')]
    pub expect_status: Vec<String>,
    /// Text the body must contain.
    #[arg(long)]
    pub body_contains: Option<String>,
    /// Give up after this long (e.g. 5s) [default: 10s].
    #[arg(long)]
    pub max_time: Option<String>,
    /// HTTP method [default: GET].
    #[arg(long, short = 'X')]
    pub method: Option<String>,
    /// Extra request header, "Name: value" (repeatable); gRPC metadata for grpc://
    /// and grpcs:// targets, headers of the upgrade for ws:// and wss:// targets.
    #[arg(long, short = 'H')]
    pub header: Vec<String>,
    /// Do not follow redirects.
    #[arg(long)]
    pub no_follow: bool,
    /// Accept any TLS certificate (its expiry is still shown).
    #[arg(long, short = 'k')]
    pub insecure: bool,
    /// Region name to send in X-Vigilmon-Region [default: local].
    #[arg(long, default_value = "local")]
    pub region: String,
    /// Print the result as JSON (the API's result shape).
    #[arg(long)]
    pub json: bool,
    /// Extra trusted CA certificates (PEM) for TLS targets.
    #[arg(long, value_name = "PEM_FILE")]
    pub ca_file: Option<std::path::PathBuf>,
    /// Redis targets only.
    #[command(flatten)]
    pub redis: RedisFlags,
}

/// `--header "Name: value"` flags as a map (HTTP headers, WebSocket headers, gRPC
/// metadata); `Err` names the flag that is not of that form.
fn header_map(flags: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    for h in flags {
        let Some((k, v)) = h.split_once(':') else {
            return Err(format!("--header {h:?} must look like \"Name: value\""));
        };
        map.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    Ok(map)
}

fn usage(msg: impl std::fmt::Display) -> anyhow::Result<u8> {
    eprintln!("error: {msg}");
    Ok(exit::USAGE)
}

pub async fn run(args: CheckArgs) -> anyhow::Result<u8> {
    let timeout = match &args.max_time {
        Some(t) => match HumanDuration::parse(t) {
            Ok(d) if !d.0.is_zero() && d.0 < Duration::from_secs(3600) => d,
            Ok(_) => return usage("--max-time must be between 1ms and 1h"),
            Err(e) => return usage(format!("--max-time: {e}")),
        },
        None => HumanDuration::from_secs(10),
    };
    let region = match RegionName::parse(&args.region) {
        Ok(r) => r,
        Err(e) => return usage(format!("--region: {e}")),
    };
    let mut config = MonitorConfig {
        name: args.target.clone(),
        timeout: Some(timeout),
        interval: Some(HumanDuration(Duration::from_secs(
            3600 + timeout.0.as_secs(),
        ))),
        ..MonitorConfig::default()
    };
    let is_redis = ["redis://", "rediss://", "unix://"]
        .iter()
        .any(|p| args.target.starts_with(p));
    let is_postgres = ["postgres://", "postgresql://"]
        .iter()
        .any(|p| args.target.starts_with(p));
    let is_mysql = args.target.starts_with("mysql://");
    let dns_target = args.target.strip_prefix("dns://");
    if (args.record.is_some() || args.resolver.is_some()) && dns_target.is_none() {
        return usage("--record and --resolver apply to dns:// targets only");
    }
    let is_grpc = ["grpc://", "grpcs://"]
        .iter()
        .any(|p| args.target.starts_with(p));
    if args.service.is_some() && !is_grpc {
        return usage("--service applies to grpc:// and grpcs:// targets only");
    }
    let is_mqtt = ["mqtt://", "mqtts://"]
        .iter()
        .any(|p| args.target.starts_with(p));
    if args.topic.is_some() && !is_mqtt {
        return usage("--topic applies to mqtt:// and mqtts:// targets only");
    }
    let is_websocket = args.target.starts_with("ws://") || args.target.starts_with("wss://");
    if (args.send.is_some() || args.expect_reply.is_some() || args.subprotocol.is_some())
        && !is_websocket
    {
        return usage(
            "--send, --expect-reply and --subprotocol apply to ws:// and wss:// targets only",
        );
    }
    let icmp_target = args.target.strip_prefix("icmp://");
    if args.count.is_some() && icmp_target.is_none() {
        return usage("--count applies to icmp:// targets only");
    }
    let is_amqp = ["amqp://", "amqps://"]
        .iter()
        .any(|p| args.target.starts_with(p));
    let tls_target = args.target.strip_prefix("tls://");
    if args.starttls.is_some() && tls_target.is_none() {
        return usage("--starttls applies to tls:// targets only");
    }
    if args.query.is_some() && !is_postgres && !is_mysql {
        return usage("--query applies to postgres:// and mysql:// targets only");
    }
    if args.expect_value.is_some() && !is_postgres && !is_mysql && dns_target.is_none() {
        return usage("--expect-value applies to postgres://, mysql:// and dns:// targets only");
    }
    if args.redis.any_set() && !is_redis {
        return usage("the Redis flags apply to redis://, rediss:// and unix:// targets only");
    }
    if is_redis {
        if !args.expect_status.is_empty()
            || args.body_contains.is_some()
            || !args.header.is_empty()
            || args.method.is_some()
            || args.no_follow
            || args.insecure
        {
            return usage(
                "--expect-status, --body-contains, --header, --method, --no-follow and --insecure apply to HTTP targets only",
            );
        }
        match args.redis.config(&args.target) {
            Ok(c) => config.kind = KindConfig::Redis(c),
            Err(e) => return usage(e),
        }
    } else if is_postgres || is_mysql {
        if !args.expect_status.is_empty()
            || args.body_contains.is_some()
            || !args.header.is_empty()
            || args.method.is_some()
            || args.no_follow
            || args.insecure
        {
            return usage(
                "--expect-status, --body-contains, --header, --method, --no-follow and --insecure apply to HTTP targets only",
            );
        }
        let url = Some(args.target.clone());
        let query = args.query.clone();
        let expect = args
            .expect_value
            .as_ref()
            .map(|v| vigilmon_core::monitor::ExpectConfig {
                value: Some(json!(v)),
                ..Default::default()
            });
        config.kind = if is_mysql {
            KindConfig::Mysql(MysqlConfig {
                url,
                query,
                expect,
                ..MysqlConfig::default()
            })
        } else {
            KindConfig::Postgres(PostgresConfig {
                url,
                query,
                expect,
                ..PostgresConfig::default()
            })
        };
    } else if let Some((rest, implicit)) = args
        .target
        .strip_prefix("smtp://")
        .map(|r| (r, false))
        .or_else(|| args.target.strip_prefix("smtps://").map(|r| (r, true)))
    {
        if !args.expect_status.is_empty()
            || args.body_contains.is_some()
            || !args.header.is_empty()
            || args.method.is_some()
            || args.no_follow
        {
            return usage(
                "--expect-status, --body-contains, --header, --method and --no-follow apply to HTTP targets only",
            );
        }
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(':') && p.bytes().all(|b| b.is_ascii_digit()) => {
                match p.parse::<u32>() {
                    Ok(p) => (h, Some(p)),
                    Err(_) => return usage(format!("{p:?} is not a port number")),
                }
            }
            _ => (rest, None),
        };
        config.kind = KindConfig::Smtp(SmtpConfig {
            host: Some(host.to_owned()),
            port,
            tls: implicit.then(|| "implicit".to_owned()),
            verify_tls: args.insecure.then_some(false),
            ..SmtpConfig::default()
        });
    } else if is_mqtt {
        if !args.expect_status.is_empty()
            || args.body_contains.is_some()
            || !args.header.is_empty()
            || args.method.is_some()
            || args.no_follow
        {
            return usage(
                "--expect-status, --body-contains, --header, --method and --no-follow apply to HTTP targets only",
            );
        }
        config.kind = KindConfig::Mqtt(MqttConfig {
            url: Some(args.target.clone()),
            publish: args.topic.as_ref().map(|t| MqttPublishConfig {
                topic: Some(t.clone()),
                message: None,
            }),
            verify_tls: (args.insecure && args.target.starts_with("mqtts://")).then_some(false),
            ..MqttConfig::default()
        });
    } else if let Some(host) = icmp_target {
        if !args.expect_status.is_empty()
            || args.body_contains.is_some()
            || !args.header.is_empty()
            || args.method.is_some()
            || args.no_follow
            || args.insecure
        {
            return usage(
                "--expect-status, --body-contains, --header, --method, --no-follow and --insecure apply to HTTP targets only",
            );
        }
        config.kind = KindConfig::Icmp(IcmpConfig {
            host: Some(host.trim_end_matches('/').to_owned()),
            count: args.count,
            ..IcmpConfig::default()
        });
    } else if is_websocket {
        if !args.expect_status.is_empty()
            || args.body_contains.is_some()
            || args.method.is_some()
            || args.no_follow
        {
            return usage(
                "--expect-status, --body-contains, --method and --no-follow apply to HTTP targets only",
            );
        }
        let headers = match header_map(&args.header) {
            Ok(h) => h,
            Err(e) => return usage(e),
        };
        config.kind = KindConfig::Websocket(WebsocketConfig {
            url: Some(args.target.clone()),
            headers: (!headers.is_empty()).then_some(headers),
            subprotocol: args.subprotocol.clone(),
            send: args.send.clone(),
            verify_tls: args.insecure.then_some(false),
            expect: args
                .expect_reply
                .as_ref()
                .map(|r| vigilmon_core::monitor::ExpectConfig {
                    reply_contains: Some(r.clone()),
                    ..Default::default()
                }),
            ..WebsocketConfig::default()
        });
    } else if is_grpc {
        if !args.expect_status.is_empty()
            || args.body_contains.is_some()
            || args.method.is_some()
            || args.no_follow
        {
            return usage(
                "--expect-status, --body-contains, --method and --no-follow apply to HTTP targets only",
            );
        }
        let metadata = match header_map(&args.header) {
            Ok(h) => h,
            Err(e) => return usage(e),
        };
        config.kind = KindConfig::Grpc(GrpcConfig {
            url: Some(args.target.clone()),
            service: args.service.clone(),
            metadata: (!metadata.is_empty()).then_some(metadata),
            verify_tls: args.insecure.then_some(false),
            ..GrpcConfig::default()
        });
    } else if is_amqp {
        if !args.expect_status.is_empty()
            || args.body_contains.is_some()
            || !args.header.is_empty()
            || args.method.is_some()
            || args.no_follow
        {
            return usage(
                "--expect-status, --body-contains, --header, --method and --no-follow apply to HTTP targets only",
            );
        }
        config.kind = KindConfig::Amqp(AmqpConfig {
            url: Some(args.target.clone()),
            verify_tls: (args.insecure && args.target.starts_with("amqps://")).then_some(false),
            ..AmqpConfig::default()
        });
    } else if let Some(name) = dns_target {
        if !args.expect_status.is_empty()
            || args.body_contains.is_some()
            || !args.header.is_empty()
            || args.method.is_some()
            || args.no_follow
            || args.insecure
        {
            return usage(
                "--expect-status, --body-contains, --header, --method, --no-follow and --insecure apply to HTTP targets only",
            );
        }
        config.kind = KindConfig::Dns(DnsConfig {
            query: Some(name.trim_end_matches('/').to_owned()),
            record: args.record.clone(),
            resolver: args.resolver.clone(),
            expect: args
                .expect_value
                .as_ref()
                .map(|v| vigilmon_core::monitor::ExpectConfig {
                    values: Some(vec![v.clone()]),
                    ..Default::default()
                }),
            ..DnsConfig::default()
        });
    } else if let Some(rest) = tls_target {
        if !args.expect_status.is_empty()
            || args.body_contains.is_some()
            || !args.header.is_empty()
            || args.method.is_some()
            || args.no_follow
            || args.insecure
        {
            return usage(
                "--expect-status, --body-contains, --header, --method, --no-follow and --insecure apply to HTTP targets only",
            );
        }
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(':') && p.bytes().all(|b| b.is_ascii_digit()) => {
                match p.parse::<u32>() {
                    Ok(p) => (h, Some(p)),
                    Err(_) => return usage(format!("{p:?} is not a port number")),
                }
            }
            _ => (rest, None),
        };
        config.kind = KindConfig::Tls(TlsConfig {
            host: Some(host.to_owned()),
            port,
            starttls: args.starttls.clone(),
            ..TlsConfig::default()
        });
    } else if let Some(rest) = args.target.strip_prefix("tcp://") {
        let Some((host, port)) = rest.trim_end_matches('/').rsplit_once(':') else {
            return usage("a tcp target is tcp://host:port");
        };
        let Ok(port) = port.parse::<u32>() else {
            return usage(format!("{port:?} is not a port number"));
        };
        if !args.expect_status.is_empty()
            || args.body_contains.is_some()
            || !args.header.is_empty()
            || args.method.is_some()
        {
            return usage(
                "--expect-status, --body-contains, --header and --method apply to HTTP targets only",
            );
        }
        config.kind = KindConfig::Tcp(TcpConfig {
            host: Some(host.to_owned()),
            port: Some(port),
            ..TcpConfig::default()
        });
    } else if args.target.starts_with("http://") || args.target.starts_with("https://") {
        let mut http = HttpConfig {
            url: Some(args.target.clone()),
            method: args.method.clone(),
            follow_redirects: Some(!args.no_follow),
            verify_tls: Some(!args.insecure),
            ..HttpConfig::default()
        };
        let headers = match header_map(&args.header) {
            Ok(h) => h,
            Err(e) => return usage(e),
        };
        if !headers.is_empty() {
            http.headers = Some(headers);
        }
        let status = match args.expect_status.as_slice() {
            [] => None,
            list => Some(serde_json::Value::Array(
                list.iter().map(|s| json!(s)).collect(),
            )),
        };
        if status.is_some() || args.body_contains.is_some() {
            http.expect = Some(vigilmon_core::monitor::ExpectConfig {
                status,
                body_contains: args.body_contains.clone(),
                ..Default::default()
            });
        }
        config.kind = KindConfig::Http(http);
    } else {
        return usage(format!(
            "{:?}: the target must start with http://, https://, tcp://, redis://, rediss://, unix://, postgres://, mysql://, tls://, smtp://, smtps://, dns://, grpc://, grpcs://, mqtt://, mqtts://, amqp://, amqps://, ws://, wss:// or icmp://",
            args.target
        ));
    }
    let spec = match config.build() {
        Ok(s) => s,
        Err(errs) => {
            for e in errs {
                eprintln!("error: {e}");
            }
            return Ok(exit::USAGE);
        }
    };
    let mut opts = ProbeOptions::new(region);
    // The operator named this socket on the command line: it may be reached.
    if let CheckSpec::Redis(r) = &spec.check
        && let RedisAddr::Unix { path } = &r.addr
    {
        opts.guard.allow_unix_sockets.push(path.into());
    }
    if let Some(path) = &args.ca_file {
        match read_ca_file(path) {
            Ok(roots) => opts.extra_roots = roots,
            Err(e) => return usage(format!("--ca-file: {e:#}")),
        }
    }
    let prober = Prober::new(opts).map_err(|e| anyhow::anyhow!("{e}"))?;
    let result = prober.check(&spec.check, spec.timeout).await;
    if args.json {
        let state = match result.verdict {
            Verdict::Up => MonitorState::Up,
            Verdict::Degraded { .. } => MonitorState::Degraded,
            Verdict::Down { .. } => MonitorState::Down,
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&ResultView::new(result.clone(), state))?
        );
    } else {
        print_human(&spec.check, &result);
    }
    Ok(if result.verdict.is_ok() {
        exit::OK
    } else {
        exit::FAILED
    })
}

fn print_human(check: &CheckSpec, r: &CheckResult) {
    match check {
        CheckSpec::Http(h) => println!("{} {} (region {})", h.method, h.url, r.region),
        CheckSpec::Tcp(t) => println!("TCP {}:{} (region {})", t.host, t.port, r.region),
        CheckSpec::Redis(spec) => println!("REDIS {} (region {})", redis_target(spec), r.region),
        CheckSpec::Postgres(p) => println!(
            "POSTGRES postgres://{}@{}:{}/{} sslmode={} (region {})",
            p.user,
            if p.host.contains(':') {
                format!("[{}]", p.host)
            } else {
                p.host.clone()
            },
            p.port,
            p.database,
            p.sslmode.as_str(),
            r.region
        ),
        CheckSpec::Mysql(m) => println!(
            "MYSQL mysql://{}@{}:{}/{} ssl-mode={} (region {})",
            m.user,
            if m.host.contains(':') {
                format!("[{}]", m.host)
            } else {
                m.host.clone()
            },
            m.port,
            m.database.as_deref().unwrap_or(""),
            m.ssl_mode.as_str(),
            r.region
        ),
        CheckSpec::Tls(t) => println!(
            "TLS {}:{}{} (region {})",
            if t.host.contains(':') {
                format!("[{}]", t.host)
            } else {
                t.host.clone()
            },
            t.port,
            if t.starttls.is_some() {
                " after SMTP STARTTLS"
            } else {
                ""
            },
            r.region
        ),
        CheckSpec::Smtp(m) => println!(
            "SMTP {}:{} ({}) (region {})",
            m.host,
            m.port,
            match m.tls {
                vigilmon_core::monitor::SmtpTls::StartTls => "STARTTLS",
                vigilmon_core::monitor::SmtpTls::Implicit => "implicit TLS",
                vigilmon_core::monitor::SmtpTls::None => "no TLS",
            },
            r.region
        ),
        CheckSpec::Dns(d) => println!(
            "DNS {} {} (region {})",
            d.record.as_str(),
            d.query,
            r.region
        ),
        CheckSpec::Grpc(g) => println!(
            "GRPC {}{} (region {})",
            g.target(),
            if g.service.is_empty() {
                String::new()
            } else {
                format!(" service {}", g.service)
            },
            r.region
        ),
        CheckSpec::Mqtt(m) => println!(
            "MQTT {}://{}:{}{} (region {})",
            if m.tls { "mqtts" } else { "mqtt" },
            if m.host.contains(':') {
                format!("[{}]", m.host)
            } else {
                m.host.clone()
            },
            m.port,
            m.username
                .as_deref()
                .map(|u| format!(" as {u}"))
                .unwrap_or_default(),
            r.region
        ),
        CheckSpec::Websocket(w) => println!(
            "WEBSOCKET {} (region {})",
            vigilmon_core::secret::mask_url_password(w.url.as_str()),
            r.region
        ),
        CheckSpec::Icmp(i) => println!(
            "PING {} ({} echo requests) (region {})",
            i.host, i.count, r.region
        ),
        CheckSpec::Amqp(a) => println!(
            "AMQP {}://{}:{} vhost {:?} as {} (region {})",
            if a.tls { "amqps" } else { "amqp" },
            if a.host.contains(':') {
                format!("[{}]", a.host)
            } else {
                a.host.clone()
            },
            a.port,
            a.vhost,
            a.user,
            r.region
        ),
        CheckSpec::Heartbeat(_) => println!("(region {})", r.region),
    }
    let ms = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v} ms"));
    println!("  dns         {}", ms(r.phases.dns_ms));
    println!("  connect     {}", ms(r.phases.connect_ms));
    println!("  tls         {}", ms(r.phases.tls_ms));
    println!("  first byte  {}", ms(r.phases.ttfb_ms));
    println!("  total       {} ms", r.duration_ms);
    if let Some(a) = &r.remote_addr {
        println!("  address     {a}");
    }
    if let Some(s) = r.status_code {
        println!("  status      {s}");
    }
    if let Some(c) = r.cert_expires_at {
        let days = (c.as_second() - r.checked_at.as_second()) / 86_400;
        println!("  certificate expires {c} (in {days} days)");
    }
    if let CheckSpec::Http(h) = check {
        let mut expectations = vec![format!("status {}", h.expect.status)];
        if let Some(b) = &h.expect.body_contains {
            expectations.push(format!("body contains {b:?}"));
        }
        println!("  expect      {}", expectations.join("; "));
    }
    if let (CheckSpec::Redis(_), Some(d)) = (check, &r.details) {
        print_redis_figures(d);
    }
    match (check, &r.details) {
        (CheckSpec::Postgres(p), Some(d)) => print_database_figures("PostgreSQL", &p.query, d),
        (CheckSpec::Mysql(m), Some(d)) => print_database_figures("MySQL", &m.query, d),
        (CheckSpec::Tls(_), Some(d)) => print_certificate_figures(d),
        (CheckSpec::Dns(_), Some(d)) => {
            println!(
                "  resolver    {} over {}, {}{}",
                d["resolver"].as_str().unwrap_or("-"),
                d["transport"].as_str().unwrap_or("-"),
                d["rcode"].as_str().unwrap_or("-"),
                if d["authoritative"] == true {
                    ", authoritative"
                } else {
                    ""
                }
            );
            for v in d["values"].as_array().into_iter().flatten() {
                println!("  answer      {}", v.as_str().unwrap_or("-"));
            }
        }
        (CheckSpec::Grpc(_), Some(d)) => match d["status"].as_str() {
            Some(status) => println!("  health      {status}"),
            None => println!(
                "  grpc-status {} {}{}",
                d["grpc_status"],
                d["grpc_code"].as_str().unwrap_or("-"),
                match d["grpc_message"].as_str() {
                    Some(m) if !m.is_empty() => format!(": {m}"),
                    _ => String::new(),
                }
            ),
        },
        (CheckSpec::Mqtt(_), Some(d)) => {
            println!("  client id   {}", d["client_id"].as_str().unwrap_or("-"));
            if let Some(t) = d["topic"].as_str() {
                let rt = d["round_trip_ms"]
                    .as_u64()
                    .map_or_else(|| "-".to_owned(), |ms| format!("{ms} ms"));
                println!("  round trip  {rt} on {t}");
            }
            if d.get("issuer").is_some() {
                print_certificate_figures(d);
            }
        }
        (CheckSpec::Icmp(_), Some(d)) => {
            println!(
                "  echoes      {} sent, {} received, {}% lost ({} socket to {})",
                d["sent"],
                d["received"],
                d["loss_percent"],
                d["socket"].as_str().unwrap_or("-"),
                d["address"].as_str().unwrap_or("-")
            );
            if d["rtt_avg_ms"].is_number() {
                println!(
                    "  round trip  min {} / avg {} / max {} ms",
                    d["rtt_min_ms"], d["rtt_avg_ms"], d["rtt_max_ms"]
                );
            }
        }
        (CheckSpec::Websocket(_), Some(d)) => {
            if let Some(p) = d["subprotocol"].as_str() {
                println!("  subprotocol {p}");
            }
            if let Some(reply) = d["reply"].as_str() {
                println!("  reply       {reply:?} ({} ms)", d["reply_ms"]);
            }
            if d.get("issuer").is_some() {
                print_certificate_figures(d);
            }
        }
        (CheckSpec::Amqp(_), Some(d)) => {
            println!("  server      {}", d["server"].as_str().unwrap_or("-"));
            let ms = |k: &str| {
                d[k].as_u64()
                    .map_or_else(|| "-".to_owned(), |ms| format!("{ms} ms"))
            };
            println!("  handshake   {}", ms("handshake_ms"));
            println!("  channel     {}", ms("channel_ms"));
            if d.get("issuer").is_some() {
                print_certificate_figures(d);
            }
        }
        (CheckSpec::Smtp(_), Some(d)) => {
            println!("  greeting    {}", d["greeting"].as_str().unwrap_or("-"));
            if let Some(ext) = d["extensions"].as_array() {
                let list: Vec<&str> = ext.iter().filter_map(|e| e.as_str()).collect();
                println!("  extensions  {}", list.join(", "));
            }
            if d.get("issuer").is_some() {
                print_certificate_figures(d);
            }
        }
        _ => {}
    }
    match &r.verdict {
        Verdict::Up => println!("verdict: UP"),
        Verdict::Degraded { reason } => println!("verdict: DEGRADED — {reason}"),
        Verdict::Down { kind, message } => {
            println!("verdict: DOWN ({}) — {message}", kind.as_str());
            if let Some(b) = &r.body_excerpt {
                println!("  body: {b}");
            }
        }
    }
}

/// A Redis target in words, without credentials.
fn redis_target(spec: &vigilmon_core::monitor::RedisSpec) -> String {
    use vigilmon_core::monitor::RedisAddr;
    let user = spec
        .username
        .as_deref()
        .map(|u| format!(" as {u}"))
        .unwrap_or_default();
    match &spec.addr {
        RedisAddr::Tcp { host, port, tls } => {
            let scheme = if *tls { "rediss" } else { "redis" };
            let host = if host.contains(':') {
                format!("[{host}]")
            } else {
                host.clone()
            };
            format!("{scheme}://{host}:{port}/{}{user}", spec.db)
        }
        RedisAddr::Unix { path } => format!("unix://{path}?db={}{user}", spec.db),
    }
}

/// The figures of a Redis check, one line per family.
fn print_redis_figures(d: &serde_json::Value) {
    use vigilmon_core::redis::human_bytes;
    let text = |k: &str| match &d[k] {
        serde_json::Value::Null => "-".to_owned(),
        serde_json::Value::String(s) => s.clone(),
        v => v.to_string(),
    };
    if !d["role"].is_null() {
        println!("  role        {}", text("role"));
    }
    if let Some(used) = d["used_bytes"].as_u64() {
        let mut line = human_bytes(used);
        if let (Some(max), Some(ratio)) = (d["max_bytes"].as_u64(), d["memory_ratio"].as_f64()) {
            let of = if d["max_bytes_source"] == "limit_bytes" {
                "of the configured limit"
            } else {
                "of maxmemory"
            };
            line.push_str(&format!(
                " ({:.1}% {of}, {})",
                ratio * 100.0,
                human_bytes(max)
            ));
        } else {
            line.push_str(" (maxmemory unlimited: not judged)");
        }
        println!("  memory      {line}; policy {}", text("policy"));
    }
    let evictions = match d["evictions_per_min"].as_f64() {
        Some(rate) => format!("{rate:.1}/min"),
        None => "no earlier sample".to_owned(),
    };
    if !d["evicted_keys"].is_null() {
        println!("  evictions   {} total, {evictions}", text("evicted_keys"));
    }
    if d["role"] == "replica" {
        println!(
            "  primary     {} link {}, last I/O {} s ago, {} bytes not applied",
            text("master"),
            text("master_link_status"),
            text("lag_seconds"),
            text("lag_bytes")
        );
    }
    if let Some(replicas) = d["replicas"].as_array() {
        println!("  replicas    {} connected", text("connected_replicas"));
        for r in replicas {
            println!(
                "    {} {} offset {} lag {} s, {} bytes behind",
                r["addr"].as_str().unwrap_or("?"),
                r["state"].as_str().unwrap_or("?"),
                r["offset"],
                r["lag_seconds"],
                r["lag_bytes"]
            );
        }
    }
    if !d["write_probe"].is_null() {
        let extra = match (&d["write_error"], &d["write_probe_skipped"]) {
            (serde_json::Value::String(e), _) => format!(": {e}"),
            (_, serde_json::Value::String(why)) => format!(": {why}"),
            _ => String::new(),
        };
        println!("  write probe {}{extra}", text("write_probe"));
    }
    if let Some(reasons) = d["reasons"].as_array().filter(|r| !r.is_empty()) {
        let list: Vec<&str> = reasons.iter().filter_map(|r| r.as_str()).collect();
        println!("  reasons     {}", list.join(", "));
    }
}

/// The figures of a PostgreSQL or MySQL check.
fn print_database_figures(product: &str, query: &str, d: &serde_json::Value) {
    let ms = |k: &str| {
        d[k].as_u64()
            .map_or_else(|| "-".to_owned(), |v| format!("{v} ms"))
    };
    if let Some(v) = d["server_version"].as_str() {
        println!(
            "  server      {product} {v}, TLS {}",
            if d["tls"] == true { "on" } else { "off" }
        );
    }
    println!("  login       {}", ms("login_ms"));
    println!("  query       {} ({query})", ms("query_ms"));
    if let Some(rows) = d["rows"].as_u64() {
        let value = match &d["value"] {
            serde_json::Value::String(s) => format!("{s:?}"),
            _ => "NULL or none".to_owned(),
        };
        println!("  answer      {rows} row(s), first value {value}");
    }
}

/// The figures of a `tls` check.
fn print_certificate_figures(d: &serde_json::Value) {
    let text = |k: &str| d[k].as_str().unwrap_or("-").to_owned();
    println!("  protocol    {} ({})", text("protocol"), text("cipher"));
    println!("  subject     {}", text("subject"));
    println!("  issuer      {}", text("issuer"));
    if let Some(names) = d["names"].as_array() {
        let list: Vec<&str> = names.iter().filter_map(|n| n.as_str()).collect();
        println!("  names       {}", list.join(", "));
    }
    println!(
        "  chain       {} certificate(s), {}",
        d["chain"],
        if d["trusted"] == true {
            "trusted"
        } else {
            "NOT trusted"
        }
    );
}
