//! A small HTTP server on loopback, in a thread, serving documents a client publishes: its Client
//! ID Metadata Document and its key set (`jwks_uri`). authd fetches them only with its test-only
//! switch (off by default: the SSRF guard refuses loopback and plain http). Counts its hits.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct DocServer {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// `${base}/client.json`, the usual document URL.
    pub url: String,
    pub hits: Arc<AtomicUsize>,
}

impl DocServer {
    /// Serves `route(path, base)` (404 when `None`), e.g. `/client.json` and `/jwks.json`.
    pub fn start(route: impl Fn(&str, &str) -> Option<String> + Send + 'static) -> DocServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let hits = Arc::new(AtomicUsize::new(0));
        let (own_base, counter) = (base.clone(), hits.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                counter.fetch_add(1, Ordering::SeqCst);
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                let path = line.split(' ').nth(1).unwrap_or("/").to_owned();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let (status, text) = match route(&path, &own_base) {
                    Some(t) => ("200 OK", t),
                    None => ("404 Not Found", String::new()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    text.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(text.as_bytes());
            }
        });
        DocServer {
            url: format!("{base}/client.json"),
            base,
            hits,
        }
    }

    /// Serves `body(url)` at `/client.json`, the document's own URL.
    pub fn document(body: impl Fn(&str) -> String + Send + 'static) -> DocServer {
        DocServer::start(move |path, base| {
            (path == "/client.json").then(|| body(&format!("{base}/client.json")))
        })
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}
