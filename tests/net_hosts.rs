//! Workers on hosts of their own, across real network hops: a client host and four worker hosts
//! in network namespaces this test makes (joined by veth links to a bridge, on 10.77.0.0/24,
//! which reaches nothing else) and always removes. The client and the workers are the
//! `rivulet-demo` binary run inside them with `ip netns exec`; the client finds the workers by a
//! name in its own hosts file (`/etc/netns/NS/hosts`), which the test edits.
//!
//! While 10,000 items stream: one worker's link is cut and later restored; one worker process
//! is SIGKILLed and started again; a worker is added to the name, and another taken out of it
//! (drained). Between the client and a third worker, a user-space UDP relay drops 5 %,
//! duplicates 5 %, and delays 20 ms ± 10 ms (reordering). Every item must come out once, in
//! order. The test prints how long each fault took to be noticed and the slow-down.
//!
//! Needs root and `ip` (iproute2); skipped with a message otherwise, unless
//! `RIVULET_REQUIRE_NETNS=1` (CI) makes that a failure.

#![cfg(feature = "remote")]

mod support;

use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::os::unix::fs::FileExt as _;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::netns::{Net, unavailable};
use support::node::{Credentials, DEMO, Proc, listening};
#[path = "support/relay.rs"]
mod relay;
use relay::{Faults, FaultyRelay};

const SUBNET: &str = "10.77.0";
const PORT: u16 = 7878;
const NAME: &str = "workers.rivulet.test";
const ITEMS: u64 = 10_000;
const RATE: u64 = 300;
/// The longest any one step may take.
const STEP: Duration = Duration::from_secs(40);

fn unix_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

fn skip(why: &str) {
    assert!(
        std::env::var_os("RIVULET_REQUIRE_NETNS").is_none(),
        "RIVULET_REQUIRE_NETNS is set, but: {why}"
    );
    eprintln!("skipped: {why}");
}

/// Host `last`'s address on the test network.
fn addr(last: u8) -> SocketAddr {
    format!("{SUBNET}.{last}:{PORT}").parse().unwrap()
}

/// Writes a hosts file in place, always the same length, in one write: a process that mounted
/// it (`ip netns exec`) keeps seeing this file, and never sees it half-written.
fn write_hosts(path: &Path, entries: &[(&str, SocketAddr)]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut text = String::from("127.0.0.1 localhost\n");
    for (name, addr) in entries {
        text.push_str(&format!("{} {name}\n", addr.ip()));
    }
    const SIZE: usize = 2048;
    assert!(text.len() < SIZE);
    text.push('#');
    while text.len() < SIZE - 1 {
        text.push(' ');
    }
    text.push('\n');
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .unwrap();
    file.write_all_at(text.as_bytes(), 0).unwrap();
}

/// A worker of two slots inside host `host`, listening on `at`; returns once it listens.
fn worker(net: &Net, creds: &Credentials, host: &str, at: SocketAddr) -> Proc {
    let mut command = net.command(host, DEMO);
    command
        .args(["worker", "--listen", &at.to_string(), "--slots", "2"])
        .args(creds.worker_flags());
    let mut proc = Proc::spawn(host, command);
    let listens = proc.wait_for(STEP, listening);
    assert_eq!(listens, Some(at), "{}", proc.transcript());
    proc
}

/// The demo client inside host `c`, streaming `items` at `rate` through the workers of `name`.
fn client(net: &Net, creds: &Credentials, name: &str, items: u64, rate: u64) -> Proc {
    let mut command = net.command("c", DEMO);
    command
        .args(["stream", "--name", &format!("{name}:{PORT}")])
        .args(creds.client_flags())
        .args(["--items", &items.to_string(), "--rate", &rate.to_string()])
        .args([
            "--buffer",
            "64",
            "--interval-ms",
            "500",
            "--progress-every",
            "250",
        ])
        .args(["--deadline-s", "150"]);
    Proc::spawn("client", command)
}

/// The `done ...` line's `key=value` fields.
fn done_fields(line: &str) -> Option<Vec<(String, String)>> {
    let rest = line.strip_prefix("done ")?;
    Some(
        rest.split_whitespace()
            .filter_map(|field| field.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    )
}

fn field<'a>(fields: &'a [(String, String)], key: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map_or("", |(_, v)| v.as_str())
}

/// Runs a client to its end; its `done` fields.
fn finish(client: &mut Proc) -> Vec<(String, String)> {
    let fields = client.wait_for(Duration::from_secs(160), done_fields);
    let fields =
        fields.unwrap_or_else(|| panic!("the client never finished:\n{}", client.transcript()));
    let status = client.wait_exit(STEP);
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "{}",
        client.transcript()
    );
    assert_eq!(field(&fields, "ok"), "true", "{}", client.transcript());
    fields
}

/// Waits for the client to print that the worker at `at` has `status`; when it did (unix ms).
fn member(client: &mut Proc, mark: usize, at: SocketAddr, status: &str) -> u128 {
    let found = client.wait_from(mark, STEP, |line| {
        let mut parts = line.strip_prefix("member ")?.split_whitespace();
        let ms: u128 = parts.next()?.parse().ok()?;
        let (_index, addr, seen) = (parts.next()?, parts.next()?, parts.next()?);
        (addr == at.to_string() && seen == status).then_some(ms)
    });
    found.unwrap_or_else(|| {
        panic!(
            "the client never saw {at} {status}:\n{}",
            client.transcript()
        )
    })
}

/// Waits for the client to print a membership change of the worker at `at`; when it
/// happened (unix ms).
fn membership(client: &mut Proc, mark: usize, at: SocketAddr, change: &str) -> u128 {
    let found = client.wait_from(mark, STEP, |line| {
        let mut parts = line.strip_prefix("membership ")?.split_whitespace();
        let ms: u128 = parts.next()?.parse().ok()?;
        let (seen, addr) = (parts.next()?, parts.next()?);
        (addr == at.to_string() && seen == change).then_some(ms)
    });
    found.unwrap_or_else(|| {
        panic!(
            "the client never saw {at} {change}:\n{}",
            client.transcript()
        )
    })
}

fn progress_gaps(client: &mut Proc) -> (u128, usize) {
    let text = client.transcript();
    let times: Vec<u128> = text
        .lines()
        .filter_map(|line| line.strip_prefix("client| progress "))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect();
    let longest = times.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    (longest, times.len())
}

#[test]
fn ten_thousand_items_survive_cuts_kills_joins_and_a_lossy_path() {
    if let Some(why) = unavailable() {
        return skip(&why);
    }
    let started = Instant::now();
    let mut net = match Net::new("rvh", SUBNET) {
        Ok(net) => net,
        Err(why) => return skip(&why),
    };
    net.add_host("c", 1);
    // The relay's address, on the client's host.
    net.add_address("c", 2);
    for (i, host) in ["w1", "w2", "w3", "w4"].iter().enumerate() {
        net.add_host(host, 11 + i as u8);
    }
    let creds = Credentials::new("net-hosts");
    let (w1, w2, w3, w4, relayed) = (addr(11), addr(12), addr(13), addr(14), addr(2));

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let socket = net.inside("c", move || std::net::UdpSocket::bind(relayed).unwrap());
    let relay = {
        let _entered = runtime.enter();
        FaultyRelay::start(socket, w3, Faults::default())
    };
    assert_eq!(relay.addr, relayed);

    let _w1 = worker(&net, &creds, "w1", w1);
    let w2_proc = worker(&net, &creds, "w2", w2);
    let _w3 = worker(&net, &creds, "w3", w3);
    let _w4 = worker(&net, &creds, "w4", w4);

    let hosts = net.hosts_file("c");
    let base = [
        ("direct.rivulet.test", w3),
        ("relayed.rivulet.test", relayed),
    ];
    write_hosts(
        &hosts,
        &[&base[..], &[(NAME, w1), (NAME, w2), (NAME, relayed)]].concat(),
    );

    // The lossy path's cost: the same worker, straight and through the relay, unpaced.
    let mut direct = client(&net, &creds, "direct.rivulet.test", 2000, 1_000_000);
    let direct = finish(&mut direct);
    let mut lossy = client(&net, &creds, "relayed.rivulet.test", 2000, 1_000_000);
    let lossy = finish(&mut lossy);
    let seconds = |f: &[(String, String)]| field(f, "seconds").parse::<f64>().unwrap_or(f64::NAN);
    let (direct_s, lossy_s) = (seconds(&direct), seconds(&lossy));

    // The main run.
    let mut run = client(&net, &creds, NAME, ITEMS, RATE);
    let mark = run.seen.len();
    for at in [w1, w2, relayed] {
        member(&mut run, mark, at, "connected");
    }
    let progressed = run.wait_for(STEP, |line| {
        let count: u64 = line
            .strip_prefix("progress ")?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        (count >= 1000).then_some(())
    });
    assert!(progressed.is_some(), "{}", run.transcript());

    // 1. w1's link is cut, then restored.
    let mark = run.seen.len();
    let cut = unix_ms();
    net.set_link("w1", false);
    let cut_seen = member(&mut run, mark, w1, "lost");
    std::thread::sleep(Duration::from_secs(2));
    let mark = run.seen.len();
    let restored = unix_ms();
    net.set_link("w1", true);
    let back = member(&mut run, mark, w1, "connected");

    // 2. w2's process is killed, and started again once the client noticed.
    let mark = run.seen.len();
    let killed = unix_ms();
    w2_proc.signal(libc::SIGKILL);
    let kill_seen = member(&mut run, mark, w2, "lost");
    drop(w2_proc);
    let restarted = unix_ms();
    let _w2_again = worker(&net, &creds, "w2", w2);
    let w2_back = member(&mut run, mark, w2, "connected");

    // 3. w4 is added to the name.
    let mark = run.seen.len();
    let added = unix_ms();
    write_hosts(
        &hosts,
        &[
            &base[..],
            &[(NAME, w1), (NAME, w2), (NAME, relayed), (NAME, w4)],
        ]
        .concat(),
    );
    let joined = member(&mut run, mark, w4, "connected");

    // 4. w1 is taken out of the name: drained, then closed.
    let mark = run.seen.len();
    let removed = unix_ms();
    write_hosts(
        &hosts,
        &[&base[..], &[(NAME, w2), (NAME, relayed), (NAME, w4)]].concat(),
    );
    let draining = membership(&mut run, mark, w1, "Draining");
    let left = membership(&mut run, mark, w1, "Left");

    let done = finish(&mut run);
    let (longest_pause, _) = progress_gaps(&mut run);
    let transcript = run.transcript();
    let shares: Vec<&str> = transcript
        .lines()
        .filter_map(|line| line.strip_prefix("client| worker "))
        .collect();
    let total_s = seconds(&done);
    let ideal_s = ITEMS as f64 / RATE as f64;
    println!("--- workers on many hosts: {ITEMS} items at {RATE}/s, every one once and in order");
    println!(
        "link cut:       noticed after {} ms; back {} ms after the link was restored",
        cut_seen - cut,
        back - restored
    );
    println!(
        "process killed: noticed after {} ms; back {} ms after the restart",
        kill_seen - killed,
        w2_back - restarted
    );
    println!(
        "added by name:  joined {} ms after the hosts file changed",
        joined - added
    );
    println!(
        "removed by name: draining after {} ms, left after {} ms",
        draining - removed,
        left - removed
    );
    println!(
        "slow-down: {total_s:.1} s against {ideal_s:.1} s at the source's pace (+{:.1} s); longest pause between 250-item progress lines {longest_pause} ms",
        total_s - ideal_s
    );
    println!(
        "lossy path: 2000 items unpaced in {lossy_s:.2} s through the relay against {direct_s:.2} s straight ({:.1}x)",
        lossy_s / direct_s
    );
    println!("relay: {}", relay.counts.summary());
    for share in shares {
        println!("worker {share}");
    }
    println!("whole test: {:.1} s", started.elapsed().as_secs_f64());
    assert!(
        total_s >= ideal_s * 0.9,
        "the source's pace holds: {total_s}"
    );
    drop(relay);
    drop(runtime);
}
