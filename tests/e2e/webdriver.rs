//! A minimal W3C WebDriver client (std only, over the tiny HTTP client) for
//! driving Debian's headless Chromium through chromedriver. It covers what
//! the page test needs: navigate, find, type, click, run a script, set the
//! viewport (Chrome DevTools emulation, as a phone or a desktop), read the
//! browser's network log, take a screenshot.

#![allow(dead_code)]

use super::http;
use serde_json::{json, Value};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The W3C key of an element reference in JSON.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Kills a child process (by its own handle) when dropped, also on panic.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Why the browser test cannot run here, or None when it can.
pub fn missing_tools(chromium: &str, chromedriver: &str) -> Option<String> {
    for (what, p) in [("chromium", chromium), ("chromedriver", chromedriver)] {
        if !Path::new(p).exists() {
            return Some(format!(
                "{what} not found at {p} (apt-get install chromium chromium-driver; .ci/run does)"
            ));
        }
    }
    None
}

/// A running chromedriver with one browser session.
pub struct Browser {
    addr: SocketAddr,
    session: String,
    _driver: KillOnDrop,
}

impl Browser {
    /// Start chromedriver on a free port and open a headless session.
    pub fn start(chromium: &str, chromedriver: &str) -> Result<Browser, String> {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
            l.local_addr().map_err(|e| e.to_string())?.port()
        };
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {chromedriver}: {e}"))?;
        let driver = KillOnDrop(child);
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let t0 = Instant::now();
        loop {
            if std::net::TcpStream::connect(addr).is_ok() {
                let r = http::get(addr, "/status");
                if r.status == 200 && r.json()["value"]["ready"] == true {
                    break;
                }
            }
            // Generous: a busy shared machine starts it slowly.
            if t0.elapsed() > Duration::from_secs(120) {
                return Err("chromedriver did not become ready in 120 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "goog:loggingPrefs": {"performance": "ALL"},
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update",
                         "--disable-sync", "--disable-dev-shm-usage", "--window-size=1280,1600"]
            }
        }}});
        let r = http::post_json(addr, "/session", &caps.to_string());
        let v = r.json();
        let session = v["value"]["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no session: {}", r.text()))?
            .to_string();
        Ok(Browser {
            addr,
            session,
            _driver: driver,
        })
    }

    /// One WebDriver command; panics with the driver's message on error.
    fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        let full = format!("/session/{}{path}", self.session);
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let r = http::request(
            self.addr,
            method,
            &full,
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        let v = r.json();
        assert_eq!(r.status, 200, "WebDriver {method} {path}: {v}");
        v["value"].clone()
    }

    /// A Chrome DevTools command (chromedriver's `goog/cdp/execute`).
    pub fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.cmd(
            "POST",
            "/goog/cdp/execute",
            json!({"cmd": cmd, "params": params}),
        )
    }

    /// Lay pages out as a `width`×`height` CSS px screen; `mobile` makes it
    /// a phone (the page's `<meta name=viewport>` applies, and content
    /// wider than the screen widens the layout viewport, as on a phone).
    pub fn set_viewport(&self, width: u32, height: u32, mobile: bool) {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": if mobile { 3 } else { 1 }, "mobile": mobile}),
        );
        self.cdp(
            "Emulation.setTouchEmulationEnabled",
            json!({"enabled": mobile, "maxTouchPoints": if mobile { 5 } else { 1 }}),
        );
    }

    /// The DevTools network events logged since the last call: (method, params).
    pub fn network_log(&self) -> Vec<(String, Value)> {
        let v = self.cmd("POST", "/se/log", json!({"type": "performance"}));
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| {
                        let m: Value = serde_json::from_str(e["message"].as_str()?).ok()?;
                        let method = m["message"]["method"].as_str()?.to_string();
                        method
                            .starts_with("Network.")
                            .then(|| (method, m["message"]["params"].clone()))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A PNG of the viewport.
    pub fn screenshot(&self) -> Vec<u8> {
        let v = self.cmd("GET", "/screenshot", json!(null));
        base64_decode(v.as_str().expect("base64 screenshot"))
    }

    /// Open `url`.
    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", json!({"url": url}));
    }

    /// The element matching a CSS selector.
    pub fn find(&self, css: &str) -> String {
        let v = self.cmd(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        );
        v[ELEMENT].as_str().expect("element id").to_string()
    }

    /// Clear a text field and type `text` into it, as a user would.
    pub fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/clear"), json!({}));
        self.cmd(
            "POST",
            &format!("/element/{e}/value"),
            json!({"text": text}),
        );
    }

    /// Send keys (e.g. "\u{E012}" = ArrowLeft) to an element.
    pub fn keys(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.cmd(
            "POST",
            &format!("/element/{e}/value"),
            json!({"text": text}),
        );
    }

    /// Click an element (an `<option>` click selects it).
    pub fn click(&self, css: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/click"), json!({}));
    }

    /// Run a script in the page and return its value.
    pub fn js(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": args}),
        )
    }

    /// Poll `script` until it returns something truthy, or panic after `secs`.
    pub fn wait_for(&self, what: &str, script: &str, args: Value, secs: u64) -> Value {
        let t0 = Instant::now();
        loop {
            let v = self.js(script, args.clone());
            if !(v.is_null() || v == false) {
                return v;
            }
            if t0.elapsed() > Duration::from_secs(secs) {
                panic!("timed out after {secs} s waiting for {what}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = http::request(
            self.addr,
            "DELETE",
            &format!("/session/{}", self.session),
            &[],
            b"",
        );
    }
}

/// Standard base64 (RFC 4648) to bytes; what WebDriver screenshots are in.
pub fn base64_decode(text: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter_map(val) {
        acc = (acc << 6) | c as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}
