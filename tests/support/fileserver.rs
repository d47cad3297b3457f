//! A tiny HTTP/1.1 file server on 127.0.0.1:0 for download tests: serves named byte strings with
//! `Range` support, and can cut a response short or answer 404. Each connection serves one request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Clone, Debug)]
pub enum Serve {
    Full(Vec<u8>),
    /// Announce the full length, send only this many bytes (of what was asked), then close.
    CutAfter(Vec<u8>, usize),
}

/// Each request's path and `Range` header, in arrival order.
pub type RequestLog = Arc<Mutex<Vec<(String, Option<String>)>>>;

#[derive(Clone)]
pub struct FileServer {
    pub url: String,
    files: Arc<Mutex<HashMap<String, Serve>>>,
    pub log: RequestLog,
}

impl FileServer {
    pub async fn start() -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let files: Arc<Mutex<HashMap<String, Serve>>> = Arc::default();
        let log: RequestLog = Arc::default();
        let (f, l) = (files.clone(), log.clone());
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let (f, l) = (f.clone(), l.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let mut n = 0;
                    while !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut buf[n..]).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => n += k,
                        }
                    }
                    let head = String::from_utf8_lossy(&buf[..n]).to_string();
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let range = head
                        .lines()
                        .find_map(|l| {
                            l.strip_prefix("Range: ")
                                .or_else(|| l.strip_prefix("range: "))
                        })
                        .map(str::to_string);
                    l.lock().unwrap().push((path.clone(), range.clone()));
                    let serve = f.lock().unwrap().get(&path).cloned();
                    let Some(serve) = serve else {
                        let _ = sock.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found").await;
                        return;
                    };
                    let (data, cut) = match serve {
                        Serve::Full(d) => (d, None),
                        Serve::CutAfter(d, k) => (d, Some(k)),
                    };
                    let from: usize = range
                        .as_deref()
                        .and_then(|r| r.strip_prefix("bytes="))
                        .and_then(|r| r.trim_end_matches('-').parse().ok())
                        .unwrap_or(0);
                    let body = &data[from.min(data.len())..];
                    let status = if from > 0 {
                        "206 Partial Content"
                    } else {
                        "200 OK"
                    };
                    let head = format!(
                        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = sock.write_all(head.as_bytes()).await;
                    let send = cut.map_or(body.len(), |k| k.min(body.len()));
                    let _ = sock.write_all(&body[..send]).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        FileServer { url, files, log }
    }

    pub fn put(&self, name: &str, serve: Serve) {
        self.files.lock().unwrap().insert(format!("/{name}"), serve);
    }
}
