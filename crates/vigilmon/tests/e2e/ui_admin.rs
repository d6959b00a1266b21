//! The admin pages of the web UI end to end, over plain HTTP with the cookie-keeping
//! [`Web`] client of `ui.rs`, on SQLite and PostgreSQL: regions and agents (with an
//! agent token made on the tokens page and a real `vigilmon agent`), users (roles,
//! 403 for editors, sessions ended by a role change or removal, the last owner and
//! self-removal refused), and status pages (create through the form, served at
//! `/status/{slug}`, edit, field errors, escaping, pages of the config file read-only,
//! delete). State-changing POSTs without the CSRF token are refused and change nothing.

use std::time::Duration;

use serde_json::{Value, json};
use test_support::{Agent, Backend, Server, StoreFixture, Target, wait_for};

use crate::ui::{Web, csrf_of};
use crate::{bin, both_backends};

const OWNER: &str = "owner@example.com";
const PASSWORD: &str = "correct horse battery";
const EDITOR: &str = "editor@example.com";
const EDITOR_PASSWORD: &str = "editor passphrase 1";
const ADMIN: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "admin passphrase 22";

/// The id in the first `action="/users/{id}/role"` after `email` on the users page.
fn user_id(page: &str, email: &str) -> String {
    page.split(&format!("<td>{email}"))
        .nth(1)
        .and_then(|r| r.split("action=\"/users/").nth(1))
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("no row for {email} in:\n{page}"))
        .to_owned()
}

/// The text of `<code id="new-token">…</code>`.
fn new_token(page: &str) -> String {
    page.split("<code id=\"new-token\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap_or_else(|| panic!("no new token in:\n{page}"))
        .to_owned()
}

async fn regions_and_agents(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let server = Server::start(bin(), &store, &[]);
    let target = Target::start().await;
    let (code, m) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "api", "type": "http", "url": format!("{}/health", target.url), "interval": "10s"}),
        )
        .await;
    assert_eq!(code, 201, "{m}");
    let mut web = Web::new(&server);
    let csrf = web.sign_in(OWNER, PASSWORD).await;

    // The server's own probe is region `local`, built in, available, running the monitor.
    let page = web.get("/regions").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let body = &page.body;
    assert!(body.contains("<h1>Regions and agents</h1>"), "{body}");
    assert!(body.contains("local"), "{body}");
    assert!(body.contains("<dt>Kind</dt><dd>built-in</dd>"), "{body}");
    assert!(body.contains("<dd>available</dd>"), "{body}");
    assert!(
        body.contains("<dt>Monitors checked from here</dt><dd id=\"region-monitors-1\">1</dd>"),
        "{body}"
    );
    // A paused monitor and a heartbeat: the count says what it counts.
    let (code, paused) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "old api", "type": "http", "url": format!("{}/old", target.url), "interval": "10s", "paused": true}),
        )
        .await;
    assert_eq!(code, 201, "{paused}");
    let (code, hb) = server
        .post(
            "/api/v1/monitors",
            &json!({"name": "backup", "type": "heartbeat", "every": "1h"}),
        )
        .await;
    assert_eq!(code, 201, "{hb}");
    let body = web.get("/regions").await.body;
    assert!(
        body.contains("<dd id=\"region-monitors-1\">1 <small class=\"muted\">(and 1 paused, not checked)</small></dd>"),
        "{body}"
    );
    assert!(body.contains("Heartbeat monitors are not checked from regions"));
    let (_, regions) = server.get("/api/v1/regions").await;
    assert_eq!(regions["regions"][0]["monitors"], 1, "{regions}");
    assert_eq!(regions["regions"][0]["paused"], 1, "{regions}");
    // This server is the one node, and coordinates.
    assert!(body.contains("<h2 id=\"nodes\">Nodes</h2>"), "{body}");
    assert!(
        body.contains(&format!(
            "<td>{} <small class=\"muted\">(this node)</small></td>",
            server.url
        )),
        "{body}"
    );
    assert!(
        body.contains("<span class=\"st up\">Alive</span></td><td>coordinator</td>"),
        "{body}"
    );
    assert!(body.contains("vigilmon token create --name eu-1 --scope agent --region"));
    assert!(body.contains(&format!("vigilmon agent --server {}", server.url)));
    assert!(body.contains("href=\"/regions\" aria-current=\"page\""));

    // The token form's Region is for agent tokens only: its field carries the class
    // the stylesheet hides while another scope is chosen and the field is empty and
    // without error.
    let tokens = web.get("/tokens").await.body;
    assert!(
        tokens.contains("<select id=\"token-scope\" name=\"scope\">")
            && tokens.contains("<option value=\"agent\">agent (for one region)</option>")
            && tokens.contains("<div class=\"field token-region\"><label for=\"token-region\">Region (agent tokens only)</label><input id=\"token-region\" name=\"region\" type=\"text\" maxlength=\"32\" placeholder=\"eu-central\" value=\"\""),
        "{tokens}"
    );
    let css = web.get("/assets/app.css").await.body;
    assert!(
        css.contains("form:has(#token-scope option[value=agent]:not(:checked)) .token-region:not(.bad):has(input[value=\"\"]){display:none}"),
        "the rule that hides Region"
    );
    // Agent tokens from the tokens page: the region is required and checked.
    let r = web
        .post(
            "/tokens",
            &[("name", "eu-1"), ("scope", "agent"), ("region", "eu")],
            None,
        )
        .await;
    assert_eq!(r.status, 403, "no CSRF token");
    let r = web
        .post(
            "/tokens",
            &[
                ("_csrf", csrf.as_str()),
                ("name", "eu-1"),
                ("scope", "agent"),
                ("region", "Europe West"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("token-region-err"), "{}", r.body);
    assert!(r.body.contains("Region: an agent token serves one region"));
    let (_, regions) = server.get("/api/v1/regions").await;
    assert_eq!(
        regions["regions"].as_array().map(Vec::len),
        Some(1),
        "no token, no region: {regions}"
    );
    let r = web
        .post(
            "/tokens",
            &[
                ("_csrf", csrf.as_str()),
                ("name", "eu-1"),
                ("scope", "agent"),
                ("region", "eu"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let token = new_token(&r.body);
    assert!(token.starts_with("vgm_"), "{token}");
    assert!(r.body.contains("Agent token “eu-1” created"), "{}", r.body);
    assert!(r.body.contains("--region eu</pre>"), "{}", r.body);
    assert!(r.body.contains("agent (region eu)"), "{}", r.body);
    assert!(
        !web.get("/tokens").await.body.contains(&token),
        "the secret is shown once"
    );

    // The region exists (from its token), unavailable until an agent speaks.
    let page = web.get("/regions").await.body;
    let eu = page
        .split("<h2 id=\"region-")
        .find(|s| s.contains(">eu <"))
        .unwrap_or_else(|| panic!("no region eu in:\n{page}"))
        .to_owned();
    assert!(
        eu.contains("Unavailable") && eu.contains("no live agent"),
        "{eu}"
    );
    assert!(eu.contains("<dd>agents</dd>"), "{eu}");

    // A real agent with that token shows up, live, with its version and assignment.
    let data = store.dir.path().join("agent-eu-1");
    let _agent = Agent::start(bin(), &server.url, "eu", &token, &data, &[]);
    let eu = wait_for(
        "the agent on the regions page",
        Duration::from_secs(30),
        || {
            let mut web = Web {
                base: web.base.clone(),
                http: web.http.clone(),
                cookies: web.cookies.clone(),
                setup_code: String::new(),
            };
            async move {
                let page = web.get("/regions").await.body;
                let eu = page
                    .split("<h2 id=\"region-")
                    .find(|s| s.contains(">eu <"))?
                    .to_owned();
                (eu.contains("<td>eu-1</td>") && eu.contains("Live")).then_some(eu)
            }
        },
    )
    .await;
    assert!(eu.contains("Available"), "{eu}");
    assert!(eu.contains(env!("CARGO_PKG_VERSION")), "the version: {eu}");
    assert!(eu.contains("UTC"), "last seen in UTC: {eu}");
    assert!(eu.contains("<th scope=\"col\">Last seen</th>"), "{eu}");
    // The API answers the same data, in the same shape as before.
    let (code, regions) = server.get("/api/v1/regions").await;
    assert_eq!(code, 200);
    let api_eu = regions["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "eu")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(api_eu["kind"], "agents", "{regions}");
    assert_eq!(api_eu["status"], "available", "{regions}");
    assert_eq!(api_eu["monitors"], 1, "{regions}");
    assert_eq!(api_eu["agents"][0]["name"], "eu-1", "{regions}");
    for key in [
        "id",
        "version",
        "last_seen",
        "live",
        "results",
        "assigned",
        "lag_ms",
    ] {
        assert!(api_eu["agents"][0].get(key).is_some(), "{key}: {regions}");
    }
}

both_backends!(ui_regions_and_agents, regions_and_agents);

async fn users_and_roles(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let server = Server::start(bin(), &store, &[]);
    let mut owner = Web::new(&server);
    let csrf = owner.sign_in(OWNER, PASSWORD).await;
    let page = owner.get("/users").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains(&format!("<td>{OWNER} <small>(you)</small>"))
    );
    assert!(page.body.contains("href=\"/users\" aria-current=\"page\""));

    // Without the CSRF token: refused, nothing created.
    let add = |email: &'static str, role: &'static str, pw: &'static str| {
        vec![
            ("email", email),
            ("role", role),
            ("password", pw),
            ("confirm", pw),
        ]
    };
    let r = owner
        .post("/users", &add(EDITOR, "editor", EDITOR_PASSWORD), None)
        .await;
    assert_eq!(r.status, 403);
    assert!(!owner.get("/users").await.body.contains(EDITOR));

    // Bad input: each problem named by its field, nothing created.
    let mut bad = vec![("_csrf", csrf.as_str())];
    bad.extend(add("not an email", "superuser", "short"));
    let r = owner.post("/users", &bad, None).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("user-email-err"), "{}", r.body);
    assert!(r.body.contains("Email: give an address"), "{}", r.body);
    assert!(
        r.body
            .contains("Role: choose owner, admin, editor or viewer")
    );
    let mut short = vec![("_csrf", csrf.as_str())];
    short.extend(add(EDITOR, "editor", "short"));
    let r = owner.post("/users", &short, None).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body
            .contains("Password: password must be at least 10 characters"),
        "{}",
        r.body
    );
    assert!(
        !owner
            .get("/users")
            .await
            .body
            .contains(&format!("<td>{EDITOR}"))
    );

    // Add an editor and an admin.
    for (email, role, pw) in [
        (EDITOR, "editor", EDITOR_PASSWORD),
        (ADMIN, "admin", ADMIN_PASSWORD),
    ] {
        let mut good = vec![("_csrf", csrf.as_str())];
        good.extend(add(email, role, pw));
        let r = owner.post("/users", &good, None).await;
        assert_eq!(
            (r.status, r.location.as_str()),
            (303, "/users?ok=user-created"),
            "{}",
            r.body
        );
    }
    let mut again = vec![("_csrf", csrf.as_str())];
    again.extend(add("EDITOR@example.com", "viewer", EDITOR_PASSWORD));
    let r = owner.post("/users", &again, None).await;
    assert_eq!(r.status, 422, "a taken email");
    assert!(r.body.contains("already exists"), "{}", r.body);
    let page = owner.get("/users?ok=user-created").await.body;
    assert!(page.contains("User added."));
    assert!(
        page.contains(&format!("<td>{EDITOR}</td><td>editor</td>")),
        "{page}"
    );
    let editor_id = user_id(&page, EDITOR);
    let owner_id = user_id(&page, OWNER);

    // The editor signs in, works, and may not manage users.
    let mut editor = Web::new(&server);
    let editor_csrf = editor.sign_in(EDITOR, EDITOR_PASSWORD).await;
    let home = editor.get("/").await;
    assert_eq!(home.status, 200);
    assert!(!home.body.contains("href=\"/users\""), "no Users link");
    assert_eq!(editor.get("/users").await.status, 403);
    let mut sneaky = vec![("_csrf", editor_csrf.as_str())];
    sneaky.extend(add("mallory@example.com", "owner", "mallory password"));
    assert_eq!(editor.post("/users", &sneaky, None).await.status, 403);
    let r = editor
        .post(
            &format!("/users/{editor_id}/role"),
            &[("_csrf", editor_csrf.as_str()), ("role", "owner")],
            None,
        )
        .await;
    assert_eq!(r.status, 403, "an editor cannot promote themselves");
    // Their last sign-in is known.
    let page = owner.get("/users").await.body;
    let row = page
        .split(&format!("<td>{EDITOR}"))
        .nth(1)
        .unwrap_or_default();
    let row = row.split("</tr>").next().unwrap_or_default();
    assert!(row.contains("data-ago"), "last sign-in shown: {row}");

    // An admin may not create, promote or remove owners.
    let mut admin = Web::new(&server);
    let admin_csrf = admin.sign_in(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(admin.get("/users").await.status, 200);
    let mut as_owner = vec![("_csrf", admin_csrf.as_str())];
    as_owner.extend(add("boss@example.com", "owner", "boss password 1"));
    let r = admin.post("/users", &as_owner, None).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("Role: only an owner may create an owner"));
    let r = admin
        .post(
            &format!("/users/{editor_id}/role"),
            &[("_csrf", admin_csrf.as_str()), ("role", "owner")],
            None,
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("only an owner may make someone an owner"));
    let r = admin
        .post(
            &format!("/users/{owner_id}/delete"),
            &[("_csrf", admin_csrf.as_str())],
            None,
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("only an owner may remove an owner"));
    assert!(!admin.get("/users").await.body.contains("boss@example.com"));

    // The owner makes the editor a viewer: the editor's sessions end.
    let r = owner
        .post(
            &format!("/users/{editor_id}/role"),
            &[("_csrf", csrf.as_str()), ("role", "viewer")],
            None,
        )
        .await;
    assert_eq!((r.status, r.location.as_str()), (303, "/users?ok=role"));
    let r = editor.get("/").await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (303, "/login"),
        "the session ended"
    );
    assert_eq!(
        editor
            .post("/logout", &[("_csrf", editor_csrf.as_str())], None)
            .await
            .status,
        403,
        "the old session is gone"
    );
    editor.sign_in(EDITOR, EDITOR_PASSWORD).await;
    assert!(
        editor
            .get("/account")
            .await
            .body
            .contains("<dd>viewer</dd>")
    );
    assert!(
        owner
            .get("/users")
            .await
            .body
            .contains(&format!("<td>{EDITOR}</td><td>viewer</td>"))
    );

    // The last owner can be neither demoted nor removed, and nobody removes themselves.
    let r = owner
        .post(
            &format!("/users/{owner_id}/role"),
            &[("_csrf", csrf.as_str()), ("role", "admin")],
            None,
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("Not changed."), "{}", r.body);
    assert!(r.body.contains("this is the last owner"), "{}", r.body);
    let r = owner
        .post(
            &format!("/users/{owner_id}/delete"),
            &[("_csrf", csrf.as_str())],
            None,
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("You cannot remove your own account"));
    let page = owner.get("/users").await;
    assert_eq!(page.status, 200, "the owner is still signed in");
    assert!(page.body.contains(&format!(
        "<td>{OWNER} <small>(you)</small></td><td>owner</td>"
    )));

    // Removing a user ends their sessions; they cannot sign in again.
    let r = owner
        .post(
            &format!("/users/{editor_id}/delete"),
            &[("_csrf", csrf.as_str())],
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (303, "/users?ok=user-removed")
    );
    assert_eq!(editor.get("/").await.status, 303, "the session ended");
    let login = editor.get("/login").await;
    let token = csrf_of(&login.body);
    let r = editor
        .post(
            "/login",
            &[
                ("_csrf", token.as_str()),
                ("email", EDITOR),
                ("password", EDITOR_PASSWORD),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 401, "a removed user cannot sign in");
    assert!(
        !owner
            .get("/users")
            .await
            .body
            .contains(&format!("<td>{EDITOR}"))
    );
    let r = owner
        .post(
            &format!("/users/{editor_id}/delete"),
            &[("_csrf", csrf.as_str())],
            None,
        )
        .await;
    assert_eq!(r.status, 404, "removed already");
}

both_backends!(ui_users_and_roles, users_and_roles);

/// The status page `slug` through the API (status, JSON).
async fn api_page(server: &Server, slug: &str) -> (u16, Value) {
    server.get(&format!("/api/v1/status-pages/{slug}")).await
}

async fn status_pages_through_the_form(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    let target = Target::start().await;
    let config = store.dir.path().join("pages.yaml");
    std::fs::write(
        &config,
        format!(
            r#"
monitors:
  - {{ name: filed, type: http, url: "{t}/health", interval: 1m }}
status_pages:
  - slug: from-file
    title: From the file
    sections:
      - name: Core
        monitors: [filed]
"#,
            t = target.url
        ),
    )
    .expect("config file");
    let server = Server::start(
        bin(),
        &store,
        &["--config".into(), config.display().to_string()],
    );
    let mut ids = Vec::new();
    for name in ["checkout API", "search"] {
        let (code, m) = server
            .post(
                "/api/v1/monitors",
                &json!({"name": name, "type": "http", "url": format!("{}/health", target.url), "interval": "1m"}),
            )
            .await;
        assert_eq!(code, 201, "{m}");
        ids.push(m["id"].as_str().unwrap().to_owned());
    }
    let mut web = Web::new(&server);
    let csrf = web.sign_in(OWNER, PASSWORD).await;

    let list = web.get("/status-pages").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(
        list.body
            .contains("href=\"/status-pages\" aria-current=\"page\"")
    );
    assert!(list.body.contains("From the file") && list.body.contains("config file"));
    let form = web.get("/status-pages/new").await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(
        form.body
            .contains("name=\"s0.monitor\" value=\"checkout API\"")
    );
    assert!(
        form.body
            .contains("<label for=\"s0-name\">Section name</label>")
    );

    let evil = "<script>alert(1)</script> Status";
    let fields = |slug: &'static str| {
        vec![
            ("slug", slug),
            ("title", evil),
            ("description", "Our public services."),
            ("s0.name", "API"),
            ("s0.monitor", "checkout API"),
            ("s0.monitor", "search"),
            ("s1.name", ""),
            ("action", "save"),
        ]
    };

    // Without the CSRF token: refused, nothing created.
    let r = web.post("/status-pages/new", &fields("public"), None).await;
    assert_eq!(r.status, 403);
    assert_eq!(api_page(&server, "public").await.0, 404);

    // A bad slug: the error is next to the field, the typed values are kept.
    let mut bad = vec![("_csrf", csrf.as_str())];
    bad.extend(fields("Bad Slug!"));
    let r = web.post("/status-pages/new", &bad, None).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body
            .contains("<span class=\"err\" id=\"slug-err\">must be 1-64 lower-case letters"),
        "{}",
        r.body
    );
    assert!(r.body.contains("value=\"Bad Slug!\""), "{}", r.body);
    assert!(
        r.body.contains("value=\"checkout API\" checked"),
        "{}",
        r.body
    );
    let (_, all) = server.get("/api/v1/status-pages").await;
    assert_eq!(
        all["status_pages"].as_array().map(Vec::len),
        Some(1),
        "{all}"
    );

    // "Add another section" re-renders with more blocks and saves nothing.
    let mut more = vec![("_csrf", csrf.as_str())];
    more.extend(fields("public"));
    more.retain(|(k, _)| *k != "action");
    more.push(("action", "more"));
    let r = web.post("/status-pages/new", &more, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("name=\"s2.name\""), "{}", r.body);
    assert_eq!(api_page(&server, "public").await.0, 404);

    // A section with a name but no monitor: the error is at that section.
    let mut empty_section = vec![("_csrf", csrf.as_str())];
    empty_section.extend(fields("public"));
    empty_section.push(("s1.name", "Nothing"));
    let r = web.post("/status-pages/new", &empty_section, None).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body
            .contains("<span class=\"err\" id=\"s1-monitor-err\">list at least one monitor"),
        "{}",
        r.body
    );
    assert_eq!(api_page(&server, "public").await.0, 404);

    // Create it.
    let mut good = vec![("_csrf", csrf.as_str())];
    good.extend(fields("public"));
    let r = web.post("/status-pages/new", &good, None).await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (303, "/status-pages?ok=page-created"),
        "{}",
        r.body
    );
    let (code, page) = api_page(&server, "public").await;
    assert_eq!(code, 200, "{page}");
    assert_eq!(page["title"], evil);
    assert_eq!(page["source"], "api");
    assert_eq!(page["description"], "Our public services.");
    assert_eq!(
        page["sections"],
        json!([{"name": "API", "monitors": ["checkout API", "search"]}])
    );

    // Listed (escaped), and served publicly (escaped too).
    let list = web.get("/status-pages?ok=page-created").await.body;
    assert!(list.contains("Status page created."));
    assert!(
        list.contains("<a href=\"/status/public\">/status/public</a>"),
        "{list}"
    );
    assert!(
        list.contains("&#60;script&#62;alert(1)&#60;/script&#62; Status"),
        "{list}"
    );
    assert!(!list.contains("<script>alert(1)"), "{list}");
    let public = server
        .client
        .get(format!("{}/status/public", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 200);
    let public = public.text().await.unwrap();
    assert!(
        public.contains("checkout API") && public.contains("search"),
        "{public}"
    );
    assert!(
        public.contains("alert(1)") && !public.contains("<script>alert(1)"),
        "{public}"
    );
    let form = web.get("/status-pages/public/edit").await.body;
    assert!(!form.contains("<script>alert(1)"), "{form}");

    // A public name set through the API is in the editor, where it can be changed.
    let mut via_api = page.clone();
    via_api["sections"][0]["monitors"][0] =
        json!({"name": "checkout API", "public_name": "Checkout"});
    for k in [
        "source",
        "url",
        "json_url",
        "feed_url",
        "monitor_list",
        "created_at",
        "updated_at",
    ] {
        via_api.as_object_mut().unwrap().remove(k);
    }
    let r = server
        .api(reqwest::Method::PUT, "/api/v1/status-pages/public")
        .json(&via_api)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());

    // Edit: a second section, a new title.
    let form = web.get("/status-pages/public/edit").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("value=\"public\""), "{}", form.body);
    assert!(form.body.contains("readonly"), "the slug does not change");
    assert!(
        form.body.contains(
            "name=\"pn.checkout API\" value=\"Checkout\" placeholder=\"public name (default: checkout API)\""
        ),
        "{}",
        form.body
    );
    assert!(
        form.body.contains("name=\"s1.name\""),
        "one empty block to add a section"
    );
    let edit = [
        ("_csrf", csrf.as_str()),
        ("slug", "public"),
        ("title", "Public status"),
        ("description", ""),
        ("s0.name", "API"),
        ("s0.monitor", "checkout API"),
        ("pn.checkout API", "Checkout"),
        ("s1.name", "Search"),
        ("s1.monitor", "search"),
        ("pn.search", "Site search"),
        ("s2.name", ""),
        ("action", "save"),
    ];
    let r = web.post("/status-pages/public/edit", &edit, None).await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (303, "/status-pages?ok=page-saved"),
        "{}",
        r.body
    );
    let (_, page) = api_page(&server, "public").await;
    assert_eq!(page["title"], "Public status");
    assert!(page.get("description").is_none(), "{page}");
    assert_eq!(
        page["sections"],
        json!([
            {"name": "API", "monitors": [{"name": "checkout API", "public_name": "Checkout"}]},
            {"name": "Search", "monitors": [{"name": "search", "public_name": "Site search"}]}
        ])
    );
    let public = server
        .client
        .get(format!("{}/status/public", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(public.contains("Site search"), "{public}");
    // A monitor on a page has badges to paste on its page, and they answer; their alt
    // text is the public name, never the internal one.
    let page = web.get(&format!("/monitors/{}", ids[0])).await.body;
    assert!(page.contains("<h2 id=\"badges-h\">Badges</h2>"), "{page}");
    let md = page
        .split("id=\"badge-md-1\">")
        .nth(1)
        .and_then(|r| r.split("</code>").next())
        .unwrap_or_default()
        .to_owned();
    assert!(
        md.starts_with(&format!("![Checkout status]({}/badge/", server.url)),
        "{md}"
    );
    let badges = page
        .split("id=\"badges-h\"")
        .nth(1)
        .and_then(|b| b.split("</section>").next())
        .unwrap_or_default();
    assert!(
        badges.contains("alt=&#34;Checkout uptime&#34;") && !badges.contains("checkout API"),
        "{badges}"
    );
    let svg_url = md
        .trim_start_matches("![Checkout status](")
        .trim_end_matches(')');
    let svg = server.client.get(svg_url).send().await.unwrap();
    assert_eq!(svg.status(), 200);
    assert!(
        page.contains("id=\"badge-html-2\">&#60;img src=&#34;"),
        "{page}"
    );
    // A bad edit changes nothing.
    let mut bad_edit = edit.to_vec();
    bad_edit.retain(|(k, _)| *k != "title");
    bad_edit.push(("title", "   "));
    let r = web.post("/status-pages/public/edit", &bad_edit, None).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body
            .contains("id=\"title-err\">must be 1-200 printable characters"),
        "{}",
        r.body
    );
    assert_eq!(
        api_page(&server, "public").await.1["title"],
        "Public status"
    );

    // A page of the config file is read-only here.
    let view = web.get("/status-pages/from-file/edit").await;
    assert_eq!(view.status, 200);
    assert!(
        view.body.contains("declared in the config file"),
        "{}",
        view.body
    );
    assert!(
        !view
            .body
            .contains("action=\"/status-pages/from-file/edit\"")
    );
    let r = web
        .post(
            "/status-pages/from-file/edit",
            &[
                ("_csrf", csrf.as_str()),
                ("title", "Hijacked"),
                ("s0.name", "Core"),
                ("s0.monitor", "filed"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    let r = web
        .post(
            "/status-pages/from-file/delete",
            &[("_csrf", csrf.as_str())],
            None,
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("declared in the config file"));
    assert_eq!(
        api_page(&server, "from-file").await.1["title"],
        "From the file"
    );

    // Delete, after a confirmation page; a POST without the token is refused first.
    let confirm = web.get("/status-pages/public/delete").await;
    assert_eq!(confirm.status, 200);
    assert!(
        confirm.body.contains("Delete the status page"),
        "{}",
        confirm.body
    );
    let r = web.post("/status-pages/public/delete", &[], None).await;
    assert_eq!(r.status, 403);
    assert_eq!(api_page(&server, "public").await.0, 200);
    let r = web
        .post(
            "/status-pages/public/delete",
            &[("_csrf", csrf.as_str())],
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (303, "/status-pages?ok=page-deleted")
    );
    assert_eq!(api_page(&server, "public").await.0, 404);
    let gone = server
        .client
        .get(format!("{}/status/public", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    assert!(
        !web.get("/status-pages")
            .await
            .body
            .contains("/status/public\"")
    );
}

both_backends!(ui_status_pages, status_pages_through_the_form);

/// A token's status code for `method path` (with an empty JSON object as body).
async fn with_token(server: &Server, token: &str, method: reqwest::Method, path: &str) -> u16 {
    server
        .client
        .request(method, format!("{}{path}", server.url))
        .bearer_auth(token)
        .json(&json!({"name": "probe-from-token", "type": "tcp", "host": "127.0.0.1", "port": 9}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The tokens `token` lists through the API: (name, owner email or null).
async fn api_tokens(server: &Server, token: &str) -> Vec<(String, Value)> {
    let r = server
        .client
        .get(format!("{}/api/v1/tokens", server.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let list: Value = r.json().await.unwrap();
    list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap().to_owned(), t["owner"].clone()))
        .collect()
}

/// Tokens belong to their user: listed with them, never wider than their role, managed
/// by editors only as their own, narrowed when the user is demoted and gone when the
/// user is removed. CLI tokens are service tokens.
async fn tokens_belong_to_users(backend: Backend) {
    let store = StoreFixture::new(backend).await;
    // `server.token` was made with the CLI: a service token named "test".
    let server = Server::start(bin(), &store, &[]);
    let mut owner = Web::new(&server);
    let csrf = owner.sign_in(OWNER, PASSWORD).await;
    let r = owner
        .post(
            "/users",
            &[
                ("_csrf", csrf.as_str()),
                ("email", EDITOR),
                ("role", "editor"),
                ("password", EDITOR_PASSWORD),
                ("confirm", EDITOR_PASSWORD),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let editor_id = user_id(&owner.get("/users").await.body, EDITOR);
    let make = |name: &'static str, scope: &'static str, csrf: String| {
        vec![
            ("_csrf".to_owned(), csrf),
            ("name".to_owned(), name.to_owned()),
            ("scope".to_owned(), scope.to_owned()),
            ("region".to_owned(), String::new()),
        ]
    };
    let pairs = make("owner-ci", "write", csrf.clone());
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let owner_token = new_token(&owner.post("/tokens", &pairs, None).await.body);

    let mut editor = Web::new(&server);
    let ecsrf = editor.sign_in(EDITOR, EDITOR_PASSWORD).await;
    let pairs = make("editor-ci", "write", ecsrf.clone());
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let editor_token = new_token(&editor.post("/tokens", &pairs, None).await.body);
    assert_eq!(
        with_token(
            &server,
            &editor_token,
            reqwest::Method::POST,
            "/api/v1/monitors"
        )
        .await,
        201,
        "an editor's write token writes"
    );

    // Listed with their user; an editor sees only their own, the owner everyone's.
    let mine = editor.get("/tokens").await.body;
    assert!(
        mine.contains(&format!("<td>editor-ci</td><td>{EDITOR}</td>")),
        "{mine}"
    );
    assert!(
        !mine.contains("owner-ci") && !mine.contains("<td>test</td>"),
        "{mine}"
    );
    let all = owner.get("/tokens").await.body;
    for row in [
        format!("<td>editor-ci</td><td>{EDITOR}</td>"),
        format!("<td>owner-ci</td><td>{OWNER}</td>"),
        "<td>test</td><td>service</td>".to_owned(),
    ] {
        assert!(all.contains(&row), "{row} in {all}");
    }
    assert_eq!(
        api_tokens(&server, &editor_token).await,
        [("editor-ci".to_owned(), json!(EDITOR))]
    );
    let listed = api_tokens(&server, &server.token).await;
    assert_eq!(
        listed,
        [
            ("test".to_owned(), Value::Null),
            ("owner-ci".to_owned(), json!(OWNER)),
            ("editor-ci".to_owned(), json!(EDITOR)),
        ]
    );

    // An editor cannot revoke anyone else's token, in the UI or through the API.
    let (code, list) = server.get("/api/v1/tokens").await;
    assert_eq!(code, 200);
    let id_of = |name: &str| {
        list["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let r = editor
        .post(
            &format!("/tokens/{}/revoke", id_of("owner-ci")),
            &[("_csrf", ecsrf.as_str())],
            None,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(
        with_token(
            &server,
            &editor_token,
            reqwest::Method::DELETE,
            &format!("/api/v1/tokens/{}", id_of("test"))
        )
        .await,
        404
    );
    assert_eq!(
        with_token(
            &server,
            &owner_token,
            reqwest::Method::GET,
            "/api/v1/monitors"
        )
        .await,
        200,
        "the owner's token still works"
    );
    assert_eq!(
        with_token(
            &server,
            &server.token,
            reqwest::Method::GET,
            "/api/v1/monitors"
        )
        .await,
        200,
        "the service token still works"
    );
    // A token made through the API with the editor's token is the editor's.
    let r = server
        .client
        .post(format!("{}/api/v1/tokens", server.url))
        .bearer_auth(&editor_token)
        .json(&json!({"name": "editor-made", "scope": "read"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let made: Value = r.json().await.unwrap();
    assert_eq!(made["owner"], EDITOR);

    // Demoted to viewer: the write token now only reads, and makes no tokens.
    let r = owner
        .post(
            &format!("/users/{editor_id}/role"),
            &[("_csrf", csrf.as_str()), ("role", "viewer")],
            None,
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        with_token(
            &server,
            &editor_token,
            reqwest::Method::GET,
            "/api/v1/monitors"
        )
        .await,
        200
    );
    assert_eq!(
        with_token(
            &server,
            &editor_token,
            reqwest::Method::POST,
            "/api/v1/monitors"
        )
        .await,
        403,
        "never wider than the user's role"
    );
    let r = server
        .client
        .post(format!("{}/api/v1/tokens", server.url))
        .bearer_auth(&editor_token)
        .json(&json!({"name": "as-viewer", "scope": "read"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "managing tokens takes write");

    // Removed: their tokens stop at once, and are gone from the list.
    let r = owner
        .post(
            &format!("/users/{editor_id}/delete"),
            &[("_csrf", csrf.as_str())],
            None,
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        with_token(
            &server,
            &editor_token,
            reqwest::Method::GET,
            "/api/v1/monitors"
        )
        .await,
        401
    );
    let names: Vec<String> = api_tokens(&server, &server.token)
        .await
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["test", "owner-ci"]);
}

both_backends!(tokens_belong_to_their_user, tokens_belong_to_users);
