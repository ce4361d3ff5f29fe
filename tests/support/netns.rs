//! Network namespaces a test makes, joins with veth links to a bridge, and always removes: hosts
//! with addresses the test assigns, on a network that reaches nothing else.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// Why the namespaces cannot be made here (the test is skipped with this message).
pub(crate) fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root: network namespaces need root".to_owned());
    }
    match Command::new("ip").arg("-V").output() {
        Ok(output) if output.status.success() => None,
        Ok(_) | Err(_) => Some("`ip` (iproute2) is not installed".to_owned()),
    }
}

/// Runs `ip ARGS`; panics with its error output if it fails.
pub(crate) fn ip(args: &[&str]) {
    let output = ip_output(args);
    assert!(
        output.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn ip_output(args: &[&str]) -> Output {
    Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ip: {e}"))
}

/// A set of namespaces joined by a bridge in a namespace of its own: each host has `eth0` on
/// `subnet.X/24`. Dropping it kills nothing (drop the processes first) but deletes every
/// namespace it made (their links go with them) and their `/etc/netns` files.
pub(crate) struct Net {
    prefix: String,
    subnet: String,
    switch: String,
    hosts: Vec<String>,
}

impl Net {
    /// An empty network named after `tag` and this process; `subnet` is the first three
    /// octets, e.g. `10.77.0`.
    pub(crate) fn new(tag: &str, subnet: &str) -> Result<Net, String> {
        let prefix = format!("{tag}{}", std::process::id() % 100_000);
        let switch = format!("{prefix}-sw");
        let net = Net {
            prefix,
            subnet: subnet.to_owned(),
            switch: switch.clone(),
            hosts: Vec::new(),
        };
        let made = ip_output(&["netns", "add", &switch]);
        if !made.status.success() {
            return Err(format!(
                "cannot make a network namespace: {}",
                String::from_utf8_lossy(&made.stderr).trim()
            ));
        }
        ip(&["-n", &switch, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &switch, "link", "set", "br0", "up"]);
        Ok(net)
    }

    /// The name of host `name`'s namespace.
    pub(crate) fn ns(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    /// Adds host `name` with `eth0` at `subnet.last`; its loopback is up too.
    pub(crate) fn add_host(&mut self, name: &str, last: u8) -> String {
        let ns = self.ns(name);
        ip(&["netns", "add", &ns]);
        self.hosts.push(ns.clone());
        let port = format!("p-{name}");
        ip(&[
            "link",
            "add",
            "eth0",
            "netns",
            &ns,
            "type",
            "veth",
            "peer",
            "name",
            &port,
            "netns",
            &self.switch,
        ]);
        ip(&["-n", &self.switch, "link", "set", &port, "master", "br0"]);
        ip(&["-n", &self.switch, "link", "set", &port, "up"]);
        let addr = format!("{}.{last}/24", self.subnet);
        ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"]);
        ip(&["-n", &ns, "link", "set", "eth0", "up"]);
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        ns
    }

    /// Adds one more address to host `name`'s `eth0`.
    pub(crate) fn add_address(&self, name: &str, last: u8) {
        let addr = format!("{}.{last}/24", self.subnet);
        ip(&["-n", &self.ns(name), "addr", "add", &addr, "dev", "eth0"]);
    }

    /// Cuts (`up == false`) or restores host `name`'s link.
    pub(crate) fn set_link(&self, name: &str, up: bool) {
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.ns(name), "link", "set", "eth0", state]);
    }

    /// The file `ip netns exec` mounts over `/etc/hosts` for host `name`'s processes.
    pub(crate) fn hosts_file(&self, name: &str) -> PathBuf {
        PathBuf::from("/etc/netns")
            .join(self.ns(name))
            .join("hosts")
    }

    /// A command that runs `program` inside host `name`.
    pub(crate) fn command(&self, name: &str, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.ns(name), program]);
        command
    }

    /// Runs `f` on a thread that has entered host `name`'s namespace, so that the sockets it
    /// makes live there.
    pub(crate) fn inside<T: Send + 'static>(
        &self,
        name: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> T {
        let path = PathBuf::from("/run/netns").join(self.ns(name));
        std::thread::spawn(move || {
            use std::os::fd::AsRawFd;
            let file = std::fs::File::open(&path)
                .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
            // SAFETY: setns on this thread only, with a namespace file we hold open.
            let entered = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(entered, 0, "setns {}", path.display());
            f()
        })
        .join()
        .expect("the thread in the namespace panicked")
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in self.hosts.iter().chain(std::iter::once(&self.switch)) {
            let _ = ip_output(&["netns", "del", ns]);
            let _ = std::fs::remove_dir_all(PathBuf::from("/etc/netns").join(ns));
        }
    }
}
