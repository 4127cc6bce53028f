//! A byte-for-byte TCP proxy that records the request line of every HTTP
//! request passing through it, so the browser test can count what the
//! browser really fetched — including what the browser process fetches
//! outside the page (the favicon), which the page's own logs never show.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// A running proxy in front of `upstream`.
pub struct CountingProxy {
    /// Where the browser should connect.
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
}

/// Copy `from` to `to` until EOF; with `seen`, record the request lines
/// (`GET /path`) in what passes.
fn pump(mut from: TcpStream, mut to: TcpStream, seen: Option<Arc<Mutex<Vec<String>>>>) {
    let mut buf = [0u8; 65536];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 {
            break;
        }
        if let Some(seen) = &seen {
            let text = String::from_utf8_lossy(&buf[..n]);
            for line in text.split("\r\n") {
                let mut w = line.split(' ');
                if let (Some(m), Some(p), Some(v)) = (w.next(), w.next(), w.next()) {
                    if ["GET", "POST", "HEAD"].contains(&m) && v.starts_with("HTTP/1") {
                        seen.lock().unwrap().push(format!("{m} {p}"));
                    }
                }
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

impl CountingProxy {
    /// Listen on 127.0.0.1:0 and forward every connection to `upstream`.
    pub fn start(upstream: SocketAddr) -> CountingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let rec = s.clone();
                std::thread::spawn(move || pump(client, server, Some(rec)));
                std::thread::spawn(move || pump(s2, c2, None));
            }
        });
        CountingProxy { addr, seen }
    }

    /// Requests seen so far whose path starts with `prefix` (e.g. "/favicon").
    pub fn count(&self, prefix: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.split(' ').nth(1).is_some_and(|p| p.starts_with(prefix)))
            .count()
    }

    /// Every request line seen so far.
    pub fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}
