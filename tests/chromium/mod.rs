//! Real headless Chromium for tests, driven over the DevTools protocol.
//!
//! Chromium (Debian's `chromium`) is started with the flags that keep it off
//! the network (no background networking, component updates, sync or QUIC; a
//! proxy at 127.0.0.1:9 that refuses everything; every host name unresolved)
//! and a fresh profile in a temporary directory. It listens for DevTools on
//! 127.0.0.1 at a port it picks (`--remote-debugging-port=0`), which it
//! writes to `DevToolsActivePort` in the profile; the test connects there
//! over a WebSocket (tungstenite, blocking) and speaks just the few commands
//! it needs: open a page, evaluate JS, click with real mouse events, capture
//! a screenshot. (headless_chrome and chromiumoxide do this too, with about
//! 110 and 150 crates in their trees and launch flags of their own; this is
//! some 300 lines on tungstenite, which added 3 crates to the lock file.)
//!
//! Which Chromium: `ROUTEWARDEN_CHROMIUM` (tests/run.sh sets it), else
//! `chromium`, `chromium-browser`, `google-chrome` on PATH.

#![allow(dead_code, clippy::print_stderr)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

/// How long one DevTools command or page load may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The Chromium to run, or why there is none. Under `CI=true` there must be
/// one: the caller fails rather than skips.
pub fn find() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("ROUTEWARDEN_CHROMIUM") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "ROUTEWARDEN_CHROMIUM={} is not a file",
                path.display()
            ))
        };
    }
    let dirs = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::split_paths(&dirs) {
            let path = dir.join(name);
            if path.is_file() {
                return Ok(path);
            }
        }
    }
    Err(
        "no Chromium: set ROUTEWARDEN_CHROMIUM or put `chromium` on PATH \
         (Debian: apt-get install chromium; tests/run.sh does)"
            .to_owned(),
    )
}

/// The Chromium to run; `None` (the test says it skips) outside CI when
/// there is none; a failure under `CI=true`.
pub fn find_or_skip(test: &str) -> Option<PathBuf> {
    match find() {
        Ok(path) => Some(path),
        Err(why) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{test}: {why} (CI=true: a missing browser fails the test)")
        }
        Err(why) => {
            eprintln!("{test}: skipped: {why}");
            None
        }
    }
}

/// A headless Chromium and one page of it, attached with a flat session.
pub struct Browser {
    child: Child,
    profile: tempfile::TempDir,
    socket: WebSocket<TcpStream>,
    next_id: u64,
    session: String,
    /// Events received while waiting for answers (console, log entries).
    pub events: Vec<Value>,
}

impl Browser {
    /// Starts Chromium and opens one blank page, `width` × `height` CSS
    /// pixels.
    pub fn launch(chromium: &Path, width: u32, height: u32) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(profile.path().join("chromium.log")).unwrap();
        let mut child = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-default-apps",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--mute-audio",
                "--password-store=basic",
                "--use-mock-keychain",
                // Nothing leaves the machine: no proxy answers, no name resolves.
                "--proxy-server=127.0.0.1:9",
                "--host-resolver-rules=MAP * ~NOTFOUND",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                &format!("--window-size={width},{height}"),
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{} does not start: {e}", chromium.display()));
        let (port, path) = match wait_for_port(profile.path(), &mut child) {
            Ok(found) => found,
            Err(why) => {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(profile.path().join("chromium.log"))
                    .unwrap_or_default();
                panic!("Chromium gave no DevTools port: {why}\n{log}");
            }
        };
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        let (socket, _) =
            tungstenite::client(format!("ws://127.0.0.1:{port}{path}"), stream).unwrap();
        let mut browser = Browser {
            child,
            profile,
            socket,
            next_id: 0,
            session: String::new(),
            events: Vec::new(),
        };
        let target = browser.call_browser("Target.createTarget", json!({ "url": "about:blank" }));
        let attached = browser.call_browser(
            "Target.attachToTarget",
            json!({ "targetId": target["targetId"], "flatten": true }),
        );
        browser.session = attached["sessionId"].as_str().unwrap().to_owned();
        browser.call("Page.enable", json!({}));
        browser.call("Runtime.enable", json!({}));
        browser.call("Log.enable", json!({}));
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        );
        browser
    }

    /// The profile directory (`--user-data-dir`).
    pub fn profile(&self) -> &Path {
        self.profile.path()
    }

    fn send(&mut self, method: &str, params: Value, session: Option<&str>) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        self.socket
            .send(Message::Text(message.to_string().into()))
            .unwrap();
        let deadline = Instant::now() + TIMEOUT;
        loop {
            assert!(Instant::now() < deadline, "no answer to {method}");
            let text = match self.socket.read() {
                Ok(Message::Text(text)) => text,
                Ok(_) => continue,
                Err(e) => panic!("DevTools connection failed during {method}: {e}"),
            };
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["id"] == id {
                if let Some(error) = value.get("error") {
                    panic!("{method} failed: {error}");
                }
                return value["result"].clone();
            }
            if value.get("method").is_some() {
                self.events.push(value);
            }
        }
    }

    fn call_browser(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, None)
    }

    /// A command to the page's session.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send(method, params, Some(&session))
    }

    /// Opens `url` and waits until it has loaded.
    pub fn open(&mut self, url: &str) {
        let navigated = self.call("Page.navigate", json!({ "url": url }));
        if let Some(error) = navigated.get("errorText") {
            panic!("{url} does not load: {error}");
        }
        let deadline = Instant::now() + TIMEOUT;
        let check = format!(
            "location.href === {} && document.readyState === 'complete'",
            json!(url)
        );
        while self.eval(&check) != json!(true) {
            assert!(Instant::now() < deadline, "{url} did not load in time");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The value of a JS expression (JSON-serialisable); a thrown exception
    /// fails the test.
    pub fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("{expression} threw: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// Clicks the middle of the element `selector` names, as a person would:
    /// scrolled into view, a mouse press and release at its coordinates.
    pub fn click(&mut self, selector: &str) {
        let rect = self.eval(&format!(
            "(() => {{ const e = document.querySelector({}); if (!e) return null; \
             e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); \
             return {{x: r.x + r.width / 2, y: r.y + r.height / 2, w: r.width, h: r.height}}; }})()",
            json!(selector)
        ));
        assert!(rect.is_object(), "nothing to click at {selector}");
        assert!(rect["w"].as_f64() > Some(0.0), "{selector} is not visible");
        let (x, y) = (rect["x"].clone(), rect["y"].clone());
        self.call(
            "Input.dispatchMouseEvent",
            json!({ "type": "mouseMoved", "x": x, "y": y }),
        );
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 }),
            );
        }
    }

    /// A PNG of the page's top `height` CSS pixels (the whole width).
    pub fn screenshot(&mut self, height: u32) -> Vec<u8> {
        let width = self.eval("document.documentElement.scrollWidth");
        let shot = self.call(
            "Page.captureScreenshot",
            json!({
                "format": "png",
                "captureBeyondViewport": true,
                "clip": { "x": 0, "y": 0, "width": width, "height": height, "scale": 1 },
            }),
        );
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap()
    }

    /// What Chromium wrote to its log (stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.profile.path().join("chromium.log")).unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ask politely, then make sure: a test that panicked leaves no browser.
        self.next_id += 1;
        let close = json!({ "id": self.next_id, "method": "Browser.close" });
        let _ = self.socket.send(Message::Text(close.to_string().into()));
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port and browser path Chromium writes to `DevToolsActivePort` once
/// it listens.
fn wait_for_port(profile: &Path, child: &mut Child) -> Result<(u16, String), String> {
    let file = profile.join("DevToolsActivePort");
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Ok(text) = std::fs::read_to_string(&file) {
            let mut lines = text.lines();
            if let (Some(port), Some(path)) = (lines.next(), lines.next())
                && let Ok(port) = port.trim().parse()
            {
                return Ok((port, path.trim().to_owned()));
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("Chromium exited: {status}"));
        }
        if Instant::now() > deadline {
            return Err(format!("no {} after {TIMEOUT:?}", file.display()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
