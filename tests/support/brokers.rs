//! Finding the real brokers the connector tests need (started by `.ci/brokers`).

use std::time::Duration;

/// Whether a broker answers on `addr`. When it does not, the test should return early: this
/// prints why, unless `RIVULET_REQUIRE_BROKERS=1`, in which case it panics.
pub(crate) async fn reachable(name: &str, addr: &str) -> bool {
    let connected =
        tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr)).await;
    if matches!(connected, Ok(Ok(_))) {
        return true;
    }
    let required = std::env::var("RIVULET_REQUIRE_BROKERS").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "RIVULET_REQUIRE_BROKERS=1 but no {name} broker answers on {addr} (start it with .ci/brokers)"
    );
    eprintln!("SKIPPED: no {name} broker answers on {addr}; run .ci/brokers to start one");
    false
}

/// A name no other test run uses.
pub(crate) fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos}", std::process::id())
}
