//! The dashboard in a real browser: headless Chromium, driven through WebDriver (chromedriver),
//! watches a pipeline run on two workers and leaves a screenshot in docs/dashboard.png.
//!
//! It needs Debian's `chromium` and `chromium-driver`, hence `#[ignore]`; `.ci/browser-test`
//! installs them and runs `cargo test --test dashboard_browser -- --ignored`. Set
//! `RIVULET_CHROMEDRIVER` / `RIVULET_CHROMIUM` to use other binaries.
#![cfg(feature = "remote")]

#[path = "dashboard/http.rs"]
mod http;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rivulet::Client;
use rivulet::prelude::*;
use serde_json::{Value, json};

/// Slow enough for the page to watch it run; every fortieth item fails.
#[rivulet::remote]
fn slow_inc(x: i64) -> Result<i64, String> {
    std::thread::sleep(Duration::from_millis(20));
    if x % 40 == 13 {
        Err(format!("unlucky thirteen: {x}"))
    } else {
        Ok(x + 1)
    }
}

const ITEMS: i64 = 2400;

/// The first of `candidates` that exists, or the one named by `variable`.
fn binary(variable: &str, candidates: &[&str]) -> PathBuf {
    if let Ok(path) = std::env::var(variable) {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in candidates {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "none of {candidates:?} found on PATH (install chromium and chromium-driver, or set {variable})"
    );
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// A WebDriver session of a chromedriver that this test started.
struct Browser {
    driver: SocketAddr,
    session: String,
    _process: tokio::process::Child,
    profile: PathBuf,
}

impl Browser {
    async fn start() -> Browser {
        let port = free_port();
        let process =
            tokio::process::Command::new(binary("RIVULET_CHROMEDRIVER", &["chromedriver"]))
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("chromedriver starts");
        let driver = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(answer) = http::request(driver, "GET", "/status", &[], "").await {
                let status: Value = serde_json::from_str(&answer.body).unwrap_or_default();
                if status["value"]["ready"] == true {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not get ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile =
            std::env::temp_dir().join(format!("rivulet-chromium-{}-{port}", std::process::id()));
        let mut options = json!({
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--hide-scrollbars", "--force-device-scale-factor=1",
                "--window-size=1400,1320", format!("--user-data-dir={}", profile.display()),
            ],
        });
        let chromium = binary(
            "RIVULET_CHROMIUM",
            &["chromium", "chromium-browser", "google-chrome"],
        );
        options["binary"] = json!(chromium);
        let capabilities = json!({
            "capabilities": { "alwaysMatch": { "browserName": "chrome", "goog:chromeOptions": options } }
        });
        let answer = http::request(driver, "POST", "/session", &[], &capabilities.to_string())
            .await
            .expect("chromedriver answers");
        let created: Value = serde_json::from_str(&answer.body).expect("JSON");
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {}", answer.body))
            .to_owned();
        Browser {
            driver,
            session,
            _process: process,
            profile,
        }
    }

    async fn command(&self, method: &str, command: &str, body: Value) -> Value {
        let path = format!("/session/{}{command}", self.session);
        let body = if method == "POST" {
            body.to_string()
        } else {
            String::new()
        };
        let answer = http::request(self.driver, method, &path, &[], &body)
            .await
            .expect("chromedriver answers");
        let answer: Value = serde_json::from_str(&answer.body).expect("JSON");
        assert!(
            answer["value"].get("error").is_none(),
            "{command}: {answer}"
        );
        answer["value"].clone()
    }

    async fn open(&self, url: &str) {
        self.command("POST", "/url", json!({ "url": url })).await;
    }

    async fn run(&self, script: &str) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            json!({ "script": script, "args": [] }),
        )
        .await
    }

    /// Runs `script` until `done` holds for its value.
    async fn wait_for(&self, script: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let value = self.run(script).await;
            if done(&value) {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "gave up waiting; `{script}` is {value}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn screenshot(&self) -> Vec<u8> {
        let encoded = self.command("GET", "/screenshot", Value::Null).await;
        base64_decode(encoded.as_str().expect("base64 text"))
    }

    async fn close(self) {
        self.command("DELETE", "", Value::Null).await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0);
    for byte in text
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'=')
    {
        let value = ALPHABET
            .iter()
            .position(|a| *a == byte)
            .expect("base64 digit") as u32;
        buffer = (buffer << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

const READ_PAGE: &str = r##"
    const stream = document.getElementById("stream");
    return {
        rows: document.querySelectorAll("#workers tbody tr[data-worker]").length,
        connected: [...document.querySelectorAll("#workers tbody tr[data-worker] .status")].map(c => c.textContent),
        finished: Number(document.getElementById("total-finished").textContent.replace(/,/g, "")),
        failed: Number(document.getElementById("total-failed").textContent.replace(/,/g, "")),
        bars: Number(stream.dataset.bars),
        drawnAt: Number(stream.dataset.drawnAt || 0),
        image: stream.toDataURL(),
        live: document.getElementById("live").dataset.state,
        errors: document.getElementById("errors").textContent,
    };
"##;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromium-driver: run .ci/browser-test"]
async fn the_dashboard_follows_a_pipeline_in_headless_chromium() {
    let client = Client::builder()
        .workers(2)
        .slots(2)
        .dashboard("127.0.0.1:0")
        .build()
        .await
        .expect("client with a dashboard");
    let url = format!(
        "http://{}/status",
        client.dashboard_addr().expect("dashboard")
    );
    let browser = Browser::start().await;
    browser.open(&url).await;
    let before = browser
        .wait_for(READ_PAGE, |page| {
            page["rows"] == 2 && page["live"] == "live"
        })
        .await;
    assert_eq!(before["connected"], json!(["connected", "connected"]));
    assert_eq!(before["finished"], 0);

    let running = client.clone();
    let pipeline = tokio::spawn(async move {
        futures::stream::iter(0..ITEMS)
            .scatter(&running)
            .map(slow_inc)
            .buffered(8)
            .gather()
            .collect::<Vec<_>>()
            .await
    });

    // While it runs, the counters climb and the task stream fills and moves.
    let first = browser
        .wait_for(READ_PAGE, |page| {
            page["finished"].as_u64() > Some(20) && page["bars"].as_u64() > Some(0)
        })
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let second = browser.run(READ_PAGE).await;
    assert!(
        !pipeline.is_finished(),
        "the pipeline should still run; make ITEMS larger"
    );
    assert!(
        second["finished"].as_u64() > first["finished"].as_u64(),
        "{} then {}",
        first["finished"],
        second["finished"]
    );
    assert!(second["drawnAt"].as_f64() > first["drawnAt"].as_f64());
    assert_ne!(
        second["image"], first["image"],
        "the task stream did not change"
    );
    assert!(second["bars"].as_u64() > Some(0));

    // The picture for the README: well into the run, with some history in the charts.
    browser
        .wait_for(READ_PAGE, |page| {
            page["finished"].as_u64() > Some(ITEMS as u64 * 2 / 3)
        })
        .await;
    let screenshot = browser.screenshot().await;
    assert!(screenshot.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join("dashboard.png");
    std::fs::create_dir_all(path.parent().expect("docs/")).expect("docs/ exists");
    std::fs::write(&path, &screenshot).expect("screenshot saved");

    let results = tokio::time::timeout(Duration::from_secs(60), pipeline)
        .await
        .expect("the pipeline ends")
        .expect("the pipeline does not panic");
    let failed = results.iter().filter(|result| result.is_err()).count() as u64;
    assert_eq!(failed, ITEMS as u64 / 40);
    let last = browser
        .wait_for(READ_PAGE, |page| {
            page["finished"].as_u64() == Some(ITEMS as u64 - failed)
        })
        .await;
    assert_eq!(last["failed"].as_u64(), Some(failed));
    assert!(
        last["errors"]
            .as_str()
            .is_some_and(|text| text.contains("unlucky thirteen")),
        "{}",
        last["errors"]
    );
    browser.close().await;
}
