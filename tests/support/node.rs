//! The `rivulet-demo` binary (a worker and a client of one build) run as child processes, with
//! their output lines collected as they come, and the files they need (a CA, a worker
//! certificate, a secret).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::certs::{TempDir, issue, make_ca_pem};

/// The demo binary cargo built for the integration tests.
pub(crate) const DEMO: &str = env!("CARGO_BIN_EXE_rivulet-demo");

/// A CA, a worker certificate it signed (for `localhost`, which clients ask for) and a secret,
/// as files in a directory removed on drop.
pub(crate) struct Credentials {
    pub(crate) dir: TempDir,
    pub(crate) ca: PathBuf,
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
    pub(crate) secret: PathBuf,
}

impl Credentials {
    pub(crate) fn new(tag: &str) -> Self {
        let dir = TempDir::new(tag);
        let (_, ca_pem, issuer) = make_ca_pem();
        let (_, cert_pem, key_pem) = issue(&issuer, &["localhost"]);
        let ca = dir.write("ca.pem", &ca_pem);
        let cert = dir.write("worker.pem", &cert_pem);
        let key = dir.write("worker.key.pem", &key_pem);
        let secret = dir.write("secret", "a shared secret for the tests\n");
        Credentials {
            dir,
            ca,
            cert,
            key,
            secret,
        }
    }

    /// The flags a worker needs: certificate, key and secret.
    pub(crate) fn worker_flags(&self) -> Vec<String> {
        vec![
            "--cert".into(),
            self.cert.display().to_string(),
            "--key".into(),
            self.key.display().to_string(),
            "--secret-file".into(),
            self.secret.display().to_string(),
        ]
    }

    /// The flags a client needs: the CA and the secret.
    pub(crate) fn client_flags(&self) -> Vec<String> {
        vec![
            "--ca".into(),
            self.ca.display().to_string(),
            "--secret-file".into(),
            self.secret.display().to_string(),
        ]
    }
}

/// A line of a child's output, or its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Line {
    Out(String),
    Err(String),
}

/// A child process whose standard output and error are read line by line on threads of their
/// own; killed (and reaped) on drop.
pub(crate) struct Proc {
    pub(crate) name: String,
    child: Child,
    lines: mpsc::Receiver<Line>,
    /// Every line seen so far, in order.
    pub(crate) seen: Vec<Line>,
    status: Option<ExitStatus>,
}

impl Proc {
    /// Starts `command` with piped output.
    pub(crate) fn spawn(name: &str, mut command: Command) -> Proc {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        forward(stdout, tx.clone(), Line::Out);
        forward(stderr, tx, Line::Err);
        Proc {
            name: name.to_owned(),
            child,
            lines,
            seen: Vec::new(),
            status: None,
        }
    }

    /// The demo binary with `args`.
    pub(crate) fn demo(name: &str, args: &[String], env: &[(&str, String)]) -> Proc {
        let mut command = Command::new(DEMO);
        command.args(args);
        for (key, value) in env {
            command.env(key, value);
        }
        Proc::spawn(name, command)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Takes the lines that came so far without waiting.
    pub(crate) fn drain_lines(&mut self) -> Vec<Line> {
        let new: Vec<Line> = self.lines.try_iter().collect();
        self.seen.extend(new.iter().cloned());
        new
    }

    /// Waits (at most `timeout`) for a standard-output line that `pick` maps to something.
    pub(crate) fn wait_for<T>(
        &mut self,
        timeout: Duration,
        mut pick: impl FnMut(&str) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if let Line::Out(text) = &line {
                        if let Some(found) = pick(text) {
                            return Some(found);
                        }
                    }
                }
                Err(_) => return None,
            }
        }
        None
    }

    /// Like [`wait_for`](Self::wait_for), but first looks at the lines seen since `mark` (a
    /// length of [`seen`](Self::seen) taken earlier), so nothing printed meanwhile is missed.
    pub(crate) fn wait_from<T>(
        &mut self,
        mark: usize,
        timeout: Duration,
        mut pick: impl FnMut(&str) -> Option<T>,
    ) -> Option<T> {
        self.drain_lines();
        let earlier = self.seen.get(mark..).unwrap_or_default().iter();
        for line in earlier {
            if let Line::Out(text) = line {
                if let Some(found) = pick(text) {
                    return Some(found);
                }
            }
        }
        self.wait_for(timeout, pick)
    }

    /// Sends a signal.
    pub(crate) fn signal(&self, signal: i32) {
        let pid = i32::try_from(self.child.id()).expect("a pid fits an i32");
        // SAFETY: kill(2) on the pid of a child this handle has not reaped yet.
        let sent = unsafe { libc::kill(pid, signal) };
        assert_eq!(sent, 0, "kill({pid}, {signal})");
    }

    /// Waits at most `timeout` for the process to exit; `None` if it is still running.
    pub(crate) fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.status {
                return Some(status);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                self.status = Some(status);
                // Let the reader threads hand over the last lines.
                std::thread::sleep(Duration::from_millis(50));
                self.drain_lines();
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything it printed so far, one line each, for failure messages.
    pub(crate) fn transcript(&mut self) -> String {
        self.drain_lines();
        self.seen
            .iter()
            .map(|line| match line {
                Line::Out(text) => format!("{}| {text}\n", self.name),
                Line::Err(text) => format!("{}! {text}\n", self.name),
            })
            .collect()
    }

    /// Its standard error so far.
    pub(crate) fn stderr(&mut self) -> Vec<String> {
        self.drain_lines();
        self.seen
            .iter()
            .filter_map(|line| match line {
                Line::Err(text) => Some(text.clone()),
                Line::Out(_) => None,
            })
            .collect()
    }

    /// Kills it now (SIGKILL) and reaps it.
    pub(crate) fn kill(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn forward(reader: impl Read + Send + 'static, tx: mpsc::Sender<Line>, wrap: fn(String) -> Line) {
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if tx.send(wrap(line)).is_err() {
                break;
            }
        }
    });
}

/// The address in a worker's `rivulet worker listening on ADDR with N slots` line.
pub(crate) fn listening(line: &str) -> Option<SocketAddr> {
    line.strip_prefix("rivulet worker listening on ")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The address in a worker's `metrics at http://ADDR/metrics, ...` line.
pub(crate) fn metrics_at(line: &str) -> Option<SocketAddr> {
    line.strip_prefix("metrics at http://")?
        .split('/')
        .next()?
        .parse()
        .ok()
}

/// `GET path` over plain HTTP/1.1: the status code and the body (bounded to 1 MiB and 5 s).
pub(crate) fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.take(1 << 20).read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {text:?}")))?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, body)| body.to_owned());
    Ok((status, body))
}
