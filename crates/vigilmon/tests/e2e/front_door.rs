//! The front door: requests naming a host the server does not answer for are refused
//! (DNS rebinding), first-run setup needs the code `serve` printed and makes one
//! owner, and the sign-in limit sees clients behind trusted proxies and keeps a
//! bounded count of them.

use serde_json::json;
use test_support::{Backend, Server, StoreFixture, run_cli};

use crate::ui::{Web, csrf_of};
use crate::{bin, both_backends};

const OWNER: &str = "owner@example.com";
const PASSWORD: &str = "correct horse battery";

/// A request to `path` naming `host`, as a browser on a rebinding page would send it.
async fn with_host(server: &Server, method: reqwest::Method, path: &str, host: &str) -> u16 {
    server
        .client
        .request(method, format!("{}{path}", server.url))
        .header("host", host)
        .header("origin", format!("http://{host}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("code=x&email=attacker%40example.com&password=0123456789&confirm=0123456789")
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Whether first-run setup is still open (the operator's view: `/setup` shows the form).
async fn setup_open(server: &Server) -> bool {
    let r = Web::new(server).get("/setup").await;
    r.status == 200
}

async fn hosts_not_ours_are_refused(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let path = store.dir.path().join("vigilmon.yaml");
    std::fs::write(
        &path,
        "server:\n  public_url: https://vigilmon.example.com\n  allowed_hosts: [vigilmon.lan, \"*.corp.example\"]\n",
    )
    .unwrap();
    let server = Server::start(
        bin(),
        &store,
        &[
            "--config".into(),
            path.display().to_string(),
            "--allowed-host".into(),
            "box.home.arpa".into(),
        ],
    );
    let port = server.url.rsplit(':').next().unwrap().to_owned();

    // The reproduction: setup posted with Host and Origin a rebinding name.
    let rebind = format!("rebind.attacker.example:{port}");
    assert_eq!(
        with_host(&server, reqwest::Method::POST, "/setup", &rebind).await,
        421
    );
    assert!(setup_open(&server).await, "no owner was made");
    for path in ["/", "/login", "/healthz", "/api/v1/monitors", "/status/x"] {
        assert_eq!(
            with_host(&server, reqwest::Method::GET, path, &rebind).await,
            421,
            "{path}"
        );
    }
    let refused = server
        .client
        .get(format!("{}/", server.url))
        .header("host", "vigilmon.example.com.attacker.example")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 421);
    let body = refused.text().await.unwrap();
    assert!(body.contains("server.allowed_hosts"), "{body}");
    assert!(!body.contains("attacker"), "the name is not echoed: {body}");

    // Answered: the public URL's host, loopback names, addresses, allowed hosts.
    for host in [
        "vigilmon.example.com".to_owned(),
        "VIGILMON.example.com:443".to_owned(),
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        "203.0.113.7".to_owned(),
        "vigilmon.lan".to_owned(),
        "box.home.arpa:8080".to_owned(),
        "probe.corp.example".to_owned(),
    ] {
        assert_eq!(
            with_host(&server, reqwest::Method::GET, "/healthz", &host).await,
            200,
            "{host}"
        );
    }
    assert_eq!(
        with_host(&server, reqwest::Method::GET, "/healthz", "corp.example").await,
        421
    );

    // A status page's own domain is answered once the page claims it, and no longer
    // once it is gone.
    assert_eq!(
        with_host(&server, reqwest::Method::GET, "/", "status.example.org").await,
        421
    );
    let (status, body) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "db", "type": "tcp", "host": "127.0.0.1", "port": 9}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = server
        .post(
            "/api/v1/status-pages",
            &json!({"slug": "ops", "title": "Ops", "domain": "status.example.org",
                "sections": [{"name": "All", "monitors": ["db"]}]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        with_host(&server, reqwest::Method::GET, "/", "status.example.org").await,
        200
    );
    let r = server
        .api(reqwest::Method::DELETE, "/api/v1/status-pages/ops")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        with_host(&server, reqwest::Method::GET, "/", "status.example.org").await,
        421
    );
}

both_backends!(rebinding_hosts_are_refused, hosts_not_ours_are_refused);

async fn setup_needs_the_printed_code(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let mut server = Server::start(bin(), &store, &[]);
    let code = server
        .setup_code
        .clone()
        .expect("serve prints a setup code");
    assert_eq!(code.len(), 14, "{code}");

    let mut web = Web::new(&server);
    let form = web.get("/setup").await;
    assert!(form.body.contains("name=\"code\""));
    let token = csrf_of(&form.body);
    for wrong in ["", "aaaa-aaaa-aaaa", &code[..13]] {
        let r = web
            .post(
                "/setup",
                &[
                    ("_csrf", token.as_str()),
                    ("code", wrong),
                    ("email", OWNER),
                    ("password", PASSWORD),
                    ("confirm", PASSWORD),
                ],
                None,
            )
            .await;
        assert_eq!(r.status, 422, "{wrong:?}");
        assert!(r.body.contains("Setup code: not the code"), "{}", r.body);
        assert!(setup_open(&server).await, "{wrong:?} made an owner");
    }
    // The right code, passwords that differ: the error sits by "Password again", in
    // words, and the email stays as typed.
    let r = web
        .post(
            "/setup",
            &[
                ("_csrf", token.as_str()),
                ("code", code.as_str()),
                ("email", "typed@example.com"),
                ("password", PASSWORD),
                ("confirm", "something else entirely"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(
        r.body
            .contains("required aria-invalid=\"true\" aria-describedby=\"confirm-err\">"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains(
            "<span class=\"err\" id=\"confirm-err\">Password again: the two passwords differ.</span>"
        ),
        "{}",
        r.body
    );
    assert!(r.body.contains("value=\"typed@example.com\""), "{}", r.body);
    assert!(setup_open(&server).await);
    // Typed as people type it: upper case, spaces for dashes.
    let typed = code.to_uppercase().replace('-', " ");
    let r = web
        .post(
            "/setup",
            &[
                ("_csrf", token.as_str()),
                ("code", typed.as_str()),
                ("email", OWNER),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
            None,
        )
        .await;
    assert_eq!((r.status, r.location.as_str()), (303, "/?ok=welcome"));
    assert!(!setup_open(&server).await);
    // The code is spent: a second setup with it makes nothing.
    let mut late = Web::new(&server);
    let form = late.get("/login").await;
    let token = csrf_of(&form.body);
    let r = late
        .post(
            "/setup",
            &[
                ("_csrf", token.as_str()),
                ("code", code.as_str()),
                ("email", "second@example.com"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
            None,
        )
        .await;
    assert_eq!((r.status, r.location.as_str()), (303, "/login"));
    // A failed sign-in keeps the email typed (never the password); the inputs are
    // sized to what they hold.
    let form = late.get("/login").await;
    assert!(
        form.body
            .contains("<input id=\"email\" name=\"email\" type=\"email\" size=\"32\"")
            && form
                .body
                .contains("<input id=\"password\" name=\"password\" type=\"password\" size=\"32\""),
        "{}",
        form.body
    );
    let token = csrf_of(&form.body);
    let r = late
        .post(
            "/login",
            &[
                ("_csrf", token.as_str()),
                ("email", OWNER),
                ("password", "not the password"),
            ],
            None,
        )
        .await;
    assert!(r.body.contains("do not match an account"), "{}", r.body);
    assert!(
        r.body.contains(&format!("required value=\"{OWNER}\">")),
        "{}",
        r.body
    );
    assert!(!r.body.contains("not the password"), "{}", r.body);

    // Once an owner exists, serve prints no code.
    server.restart(bin(), &store, &[]);
    assert_eq!(server.setup_code, None);
}

both_backends!(setup_code, setup_needs_the_printed_code);

/// The owner, made with the CLI as an operator would.
fn create_owner(store: &StoreFixture) {
    let mut args: Vec<String> = ["user", "create", "--email", OWNER, "--password-stdin"]
        .map(String::from)
        .to_vec();
    args.extend(store.args());
    let (code, out, err) = run_cli(bin(), &args, Some(&format!("{PASSWORD}\n")));
    assert_eq!(code, 0, "{out}{err}");
}

/// `n` wrong passwords from `xff` (or no header): the statuses.
async fn sign_in_attempts(web: &mut Web, xff: Option<&str>, n: usize) -> Vec<u16> {
    let page = web.get("/login").await;
    let token = csrf_of(&page.body);
    let mut codes = Vec::new();
    for _ in 0..n {
        let mut req = web
            .http
            .post(format!("{}/login", web.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(crate::ui::form_body(&[
                ("_csrf", token.as_str()),
                ("email", OWNER),
                ("password", "wrong guess!"),
            ]));
        if let Some(x) = xff {
            req = req.header("x-forwarded-for", x);
        }
        codes.push(web.send(req).await.status);
    }
    codes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_limit_sees_clients_behind_trusted_proxies() {
    let store = StoreFixture::new(Backend::Sqlite).await;
    create_owner(&store);
    let path = store.dir.path().join("vigilmon.yaml");
    std::fs::write(
        &path,
        // A window of an hour: however slow the machine verifies passwords, the
        // attempts below fall in one window.
        "server:\n  trusted_proxies: [127.0.0.1/32, \"::1/128\"]\n  tracked_clients: 2\n  sign_in_window: 1h\n",
    )
    .unwrap();
    let server = Server::start(
        bin(),
        &store,
        &["--config".into(), path.display().to_string()],
    );
    let mut web = Web::new(&server);

    // One client behind the proxy: ten attempts a window, then 429.
    let a = sign_in_attempts(&mut web, Some("198.51.100.1"), 11).await;
    assert_eq!(&a[..10], &[401; 10], "{a:?}");
    assert_eq!(a[10], 429, "{a:?}");
    // Another client behind the same proxy has its own budget; an address the client
    // itself wrote to the left of it is not believed.
    let b = sign_in_attempts(&mut web, Some("198.51.100.1, 198.51.100.2"), 1).await;
    assert_eq!(b, [401]);
    // The limiter counts two clients one by one (tracked_clients: 2); the rest share
    // one budget, so a crowd of new addresses is limited as one client.
    let mut crowd = Vec::new();
    for i in 3..14 {
        crowd.extend(sign_in_attempts(&mut web, Some(&format!("198.51.100.{i}")), 1).await);
    }
    assert_eq!(&crowd[..10], &[401; 10], "{crowd:?}");
    assert_eq!(crowd[10], 429, "{crowd:?}");
    // … while the two counted one by one keep their own budgets.
    let b = sign_in_attempts(&mut web, Some("198.51.100.2"), 1).await;
    assert_eq!(b, [401]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_addresses_are_ignored_without_trusted_proxies() {
    let store = StoreFixture::new(Backend::Sqlite).await;
    create_owner(&store);
    // No trusted proxies; a window of an hour, so that slow password checks cannot
    // spread the attempts over two windows.
    let path = store.dir.path().join("vigilmon.yaml");
    std::fs::write(&path, "server:\n  sign_in_window: 1h\n").unwrap();
    let server = Server::start(
        bin(),
        &store,
        &["--config".into(), path.display().to_string()],
    );
    let mut web = Web::new(&server);
    // Each attempt claims a new address; all count against the one peer.
    let mut codes = Vec::new();
    for i in 0..11 {
        codes.extend(sign_in_attempts(&mut web, Some(&format!("198.51.100.{i}")), 1).await);
    }
    assert_eq!(&codes[..10], &[401; 10], "{codes:?}");
    assert_eq!(codes[10], 429, "{codes:?}");
}
