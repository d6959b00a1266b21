//! A small WebDriver client for browser tests: starts `chromedriver` on a free port,
//! opens headless Chromium with a fresh profile, and speaks the W3C WebDriver
//! protocol over plain HTTP (reqwest + JSON). Just what the UI tests use: navigate,
//! find, click, type, read text and attributes, run a script, take screenshots.
//!
//! `chromedriver` and `chromium` come from Debian (`apt-get install chromium
//! chromium-driver`); `VIGILMON_CHROMEDRIVER` and `VIGILMON_CHROME` override their
//! paths.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The key WebDriver uses for element references.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A headless Chromium driven through chromedriver; both end when this is dropped.
pub struct Browser {
    base: String,
    session: String,
    http: reqwest::Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

/// A reference to an element of the current page.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    /// Starts chromedriver and a headless browser session (window 1200×900).
    pub async fn start() -> Browser {
        Self::start_with(true).await
    }

    /// The same, with JavaScript turned off in the browser's settings (the driver can
    /// still find, click and read), to check that pages work without their script.
    pub async fn start_without_javascript() -> Browser {
        Self::start_with(false).await
    }

    async fn start_with(javascript: bool) -> Browser {
        crate::install_crypto();
        let driver_bin =
            std::env::var("VIGILMON_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{driver_bin} could not be started ({e}): browser tests need Chromium and its \
                     driver (apt-get install chromium chromium-driver)"
                )
            });
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("http client");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = match http.get(format!("{base}/status")).send().await {
                Ok(r) => r
                    .json::<Value>()
                    .await
                    .is_ok_and(|v| v["value"]["ready"] == true),
                Err(_) => false,
            };
            if ready {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let mut options = json!({
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--window-size=1200,900", "--hide-scrollbars",
                format!("--user-data-dir={}", profile.path().display()),
            ]
        });
        let chrome = std::env::var("VIGILMON_CHROME").ok().or_else(|| {
            ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
                .into_iter()
                .find(|p| Path::new(p).exists())
                .map(str::to_owned)
        });
        if let Some(bin) = chrome {
            options["binary"] = Value::String(bin);
        }
        if !javascript && let Some(args) = options["args"].as_array_mut() {
            args.push(Value::String("--blink-settings=scriptEnabled=false".into()));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": options,
            "timeouts": {"pageLoad": 30000, "script": 10000, "implicit": 0}
        }}});
        let resp: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session answer");
        let session = resp["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {resp}"))
            .to_owned();
        Browser {
            base,
            session,
            http,
            driver,
            _profile: profile,
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let v: Value = resp.json().await.map_err(|e| e.to_string())?;
        if status.is_success() {
            Ok(v["value"].clone())
        } else {
            Err(format!(
                "{}: {}",
                v["value"]["error"].as_str().unwrap_or("error"),
                v["value"]["message"].as_str().unwrap_or("")
            ))
        }
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value, String> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Result<Value, String> {
        self.call(reqwest::Method::GET, path, None).await
    }

    /// Opens `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url }))
            .await
            .unwrap_or_else(|e| panic!("navigating to {url}: {e}"));
    }

    pub async fn current_url(&self) -> String {
        self.get("/url")
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// The first element matching `css`, if there is one now.
    pub async fn find(&self, css: &str) -> Option<Element> {
        self.post("/element", json!({"using": "css selector", "value": css}))
            .await
            .ok()
            .and_then(|v| v[ELEMENT].as_str().map(|s| Element(s.to_owned())))
    }

    /// Waits up to `within` for an element matching `css`.
    pub async fn wait(&self, css: &str, within: Duration) -> Element {
        let deadline = Instant::now() + within;
        loop {
            if let Some(e) = self.find(css).await {
                return e;
            }
            if Instant::now() > deadline {
                panic!(
                    "no element {css:?} within {within:?} on {}",
                    self.current_url().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits up to `within` until the text of `css` satisfies `ok`; returns it.
    pub async fn wait_text(
        &self,
        css: &str,
        within: Duration,
        ok: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + within;
        let mut last = String::new();
        loop {
            if let Some(e) = self.find(css).await {
                last = self.text(&e).await;
                if ok(&last) {
                    return last;
                }
            }
            if Instant::now() > deadline {
                panic!("{css:?} never had the expected text within {within:?}; last: {last:?}");
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    pub async fn click(&self, e: &Element) {
        self.post(&format!("/element/{}/click", e.0), json!({}))
            .await
            .unwrap_or_else(|err| panic!("click: {err}"));
    }

    /// Finds `css` (waiting up to 10 s) and clicks it.
    pub async fn click_on(&self, css: &str) {
        let e = self.wait(css, Duration::from_secs(10)).await;
        self.click(&e).await;
    }

    /// Types `text` into the element (after what it holds).
    pub async fn type_into(&self, e: &Element, text: &str) {
        self.post(&format!("/element/{}/value", e.0), json!({ "text": text }))
            .await
            .unwrap_or_else(|err| panic!("typing: {err}"));
    }

    /// Clears the input `css` and types `text` into it.
    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.wait(css, Duration::from_secs(10)).await;
        let _ = self
            .post(&format!("/element/{}/clear", e.0), json!({}))
            .await;
        self.type_into(&e, text).await;
    }

    pub async fn text(&self, e: &Element) -> String {
        self.get(&format!("/element/{}/text", e.0))
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// Whether `e` is shown (not hidden, not inside something hidden).
    pub async fn displayed(&self, e: &Element) -> bool {
        self.get(&format!("/element/{}/displayed", e.0))
            .await
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
    }

    /// The text of the first element matching `css` (empty when there is none).
    pub async fn text_of(&self, css: &str) -> String {
        match self.find(css).await {
            Some(e) => self.text(&e).await,
            None => String::new(),
        }
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": args}))
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}"))
    }

    /// Saves a PNG of the viewport to `path`.
    pub async fn screenshot(&self, path: &Path) {
        let data = self.get("/screenshot").await.expect("screenshot");
        let png = base64_decode(data.as_str().unwrap_or_default());
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        std::fs::write(path, png).expect("write screenshot");
    }

    /// Saves a PNG of the whole page (up to `max_height` pixels tall): the window is
    /// made as tall as the page for the shot, then given its size back.
    pub async fn screenshot_page(&self, path: &Path, max_height: u32) {
        let rect = self.get("/window/rect").await.unwrap_or(Value::Null);
        let (w, h) = (
            rect["width"].as_u64().unwrap_or(1200) as u32,
            rect["height"].as_u64().unwrap_or(900) as u32,
        );
        let page = self
            .execute("return document.documentElement.scrollHeight;", vec![])
            .await
            .as_u64()
            .unwrap_or(u64::from(h)) as u32;
        let viewport = self
            .execute("return window.innerHeight;", vec![])
            .await
            .as_u64()
            .unwrap_or(u64::from(h)) as u32;
        let chrome = h.saturating_sub(viewport);
        self.resize(w, (page + chrome).min(max_height)).await;
        self.screenshot(path).await;
        self.resize(w, h).await;
    }

    /// Resizes the window.
    pub async fn resize(&self, width: u32, height: u32) {
        let _ = self
            .post("/window/rect", json!({"width": width, "height": height}))
            .await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // End the session (which closes Chromium) with a plain blocking request, then
        // stop the driver.
        let host = self.base.trim_start_matches("http://").to_owned();
        if let Ok(mut s) = std::net::TcpStream::connect(&host) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(
                s,
                "DELETE /session/{} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.session
            );
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Decodes standard base64 (what WebDriver returns for screenshots).
fn base64_decode(s: &str) -> Vec<u8> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter_map(val) {
        acc = (acc << 6) | c;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64() {
        assert_eq!(super::base64_decode("aGVsbG8="), b"hello");
        assert_eq!(super::base64_decode("aGk="), b"hi");
        assert_eq!(super::base64_decode("YWJj"), b"abc");
    }
}
