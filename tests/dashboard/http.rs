//! A plain HTTP/1.1 client over a TCP stream, for the dashboard tests (and their WebDriver):
//! one request per connection, which is all a test needs and shows that nothing beyond plain
//! HTTP is required to read the dashboard.
#![allow(dead_code, reason = "each test file uses what it needs")]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An answer: status code, header lines (lower-cased names) and body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one request and reads the whole answer.
pub(crate) async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    extra_headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<Answer> {
    let mut stream = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::other("connect timed out"))??;
    let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !extra_headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    for (name, value) in extra_headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    let read = async {
        // Some servers (chromedriver) keep the connection open despite `Connection: close`:
        // read the head, then as many bytes as it announces.
        let mut raw = Vec::new();
        let mut chunk = [0u8; 8192];
        let head_end = loop {
            if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::Error::other(format!("no header end in {raw:?}")));
            }
            raw.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
        let length = head
            .lines()
            .filter_map(|line| line.split_once(':'))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
            .and_then(|(_, value)| value.trim().parse::<usize>().ok());
        let mut body = raw[head_end..].to_vec();
        match length {
            Some(length) => {
                while body.len() < length {
                    let n = stream.read(&mut chunk).await?;
                    if n == 0 {
                        break;
                    }
                    body.extend_from_slice(&chunk[..n]);
                }
            }
            None => {
                stream.read_to_end(&mut body).await?;
            }
        }
        Ok((head, body))
    };
    let (head, body) = tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .map_err(|_| std::io::Error::other("answer timed out"))??;
    let body = String::from_utf8_lossy(&body).into_owned();
    let head = head.trim_end();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head:?}")))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// `GET path`, expecting an answer.
pub(crate) async fn get(addr: SocketAddr, path: &str) -> Answer {
    request(addr, "GET", path, &[], "")
        .await
        .expect("the server answers")
}
