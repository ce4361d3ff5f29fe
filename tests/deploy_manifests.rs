//! The deployment recipe in `deploy/` holds together: the Kubernetes manifests parse into the
//! API's own types (with no field the types do not know: a typo fails), their parts are wired
//! to each other (ports, probe, labels, Secret keys, drain timeout), and every `RIVULET_*`
//! setting in the manifests and the systemd unit is one the worker's command line takes.

#![cfg(feature = "remote")]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use clap::{CommandFactory, Parser};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Container, Secret, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rivulet::worker::Args;
use serde::Serialize;
use serde::de::DeserializeOwned;

fn deploy(path: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The keys of `original` that the typed value dropped (a misspelt or misplaced field).
fn dropped(original: &serde_yaml::Value, typed: &serde_yaml::Value, at: &str) -> Vec<String> {
    use serde_yaml::Value;
    match (original, typed) {
        (Value::Mapping(original), Value::Mapping(typed)) => original
            .iter()
            .flat_map(|(key, value)| {
                let name = key.as_str().unwrap_or("?");
                let here = format!("{at}.{name}");
                match typed.get(key) {
                    Some(kept) => dropped(value, kept, &here),
                    None => vec![here],
                }
            })
            .collect(),
        (Value::Sequence(original), Value::Sequence(typed)) => original
            .iter()
            .zip(typed)
            .enumerate()
            .flat_map(|(i, (a, b))| dropped(a, b, &format!("{at}[{i}]")))
            .collect(),
        _ => Vec::new(),
    }
}

/// Parses `file` as a `T`, failing on any field `T` does not have.
fn parse<T: DeserializeOwned + Serialize>(file: &str) -> T {
    let text = deploy(file);
    let typed: T = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    let original: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let round_trip = serde_yaml::to_value(&typed).unwrap();
    let lost = dropped(&original, &round_trip, "");
    assert!(
        lost.is_empty(),
        "{file}: fields the API does not have: {lost:?}"
    );
    typed
}

/// The container's variables as the kubelet sets them: a `resourceFieldRef` to one of the
/// container's own resources takes the quantity written there (the worker parses `4Gi` as the
/// kubelet's byte count would read).
fn env_of(container: &Container) -> BTreeMap<String, String> {
    container
        .env
        .iter()
        .flatten()
        .map(|var| {
            let value = match (&var.value, &var.value_from) {
                (Some(value), _) => value.clone(),
                (None, Some(from)) => {
                    let field = from
                        .resource_field_ref
                        .as_ref()
                        .unwrap_or_else(|| panic!("{}: only resourceFieldRef is used", var.name));
                    assert_eq!(
                        field.container_name.as_deref(),
                        Some(container.name.as_str())
                    );
                    let (kind, resource) = field.resource.split_once('.').unwrap();
                    let resources = container.resources.as_ref().unwrap();
                    let quantities = match kind {
                        "limits" => resources.limits.as_ref(),
                        "requests" => resources.requests.as_ref(),
                        other => panic!("{}: no resources {other}", var.name),
                    };
                    quantities
                        .and_then(|q| q.get(resource))
                        .unwrap_or_else(|| {
                            panic!("{}: the container sets no {}", var.name, field.resource)
                        })
                        .0
                        .clone()
                }
                (None, None) => String::new(),
            };
            (var.name.clone(), value)
        })
        .collect()
}

/// The worker's command line for these `RIVULET_*` settings and arguments: each variable
/// becomes the flag it stands for, so that clap checks names and values alike.
fn worker_args(env: &BTreeMap<String, String>, args: &[String]) -> Args {
    let command = Args::command();
    let mut argv = vec!["worker".to_owned()];
    for (name, value) in env {
        let arg = command
            .get_arguments()
            .find(|arg| arg.get_env().and_then(|e| e.to_str()) == Some(name.as_str()))
            .unwrap_or_else(|| panic!("{name} is not a setting of the worker"));
        argv.push(format!("--{}", arg.get_long().expect("every flag is long")));
        argv.push(value.clone());
    }
    argv.extend(args.iter().cloned());
    Args::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"))
}

fn port_number(container: &Container, name: &str) -> i32 {
    container
        .ports
        .iter()
        .flatten()
        .find(|port| port.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no container port named {name}"))
        .container_port
}

#[test]
fn the_kubernetes_manifests_parse_and_fit_together() {
    let set: StatefulSet = parse("kubernetes/statefulset.yaml");
    let service: Service = parse("kubernetes/service.yaml");
    let secret: Secret = parse("kubernetes/secret.yaml");
    let budget: PodDisruptionBudget = parse("kubernetes/pdb.yaml");

    let spec = set.spec.as_ref().unwrap();
    let template = &spec.template;
    let pod_labels = template.metadata.as_ref().unwrap().labels.clone().unwrap();
    let selects = |selector: &BTreeMap<String, String>| {
        selector.iter().all(|(k, v)| pod_labels.get(k) == Some(v))
    };
    assert!(selects(spec.selector.match_labels.as_ref().unwrap()));

    // The headless Service is the StatefulSet's, and selects its pods.
    let service_spec = service.spec.as_ref().unwrap();
    assert_eq!(service_spec.cluster_ip.as_deref(), Some("None"));
    assert_ne!(
        service_spec.publish_not_ready_addresses,
        Some(true),
        "draining pods must leave the name"
    );
    assert_eq!(
        service.metadata.name.as_deref(),
        Some(spec.service_name.as_deref().unwrap())
    );
    assert!(selects(service_spec.selector.as_ref().unwrap()));

    let pod = template.spec.as_ref().unwrap();
    let [container] = pod.containers.as_slice() else {
        panic!("one container")
    };
    let quic = port_number(container, "quic");
    let metrics = port_number(container, "metrics");
    let [service_port] = service_spec.ports.as_deref().unwrap() else {
        panic!("one service port")
    };
    assert_eq!(service_port.protocol.as_deref(), Some("UDP"));
    assert_eq!(service_port.port, quic);
    assert_eq!(
        service_port.target_port,
        Some(IntOrString::String("quic".into()))
    );

    // The worker's own settings agree with the ports, and the command line takes them.
    let env = env_of(container);
    let args = worker_args(&env, &[]);
    assert_eq!(args.listen.port() as i32, quic);
    assert_eq!(args.metrics.map(|m| m.port() as i32), Some(metrics));
    // New work is refused before the container's memory limit kills the worker.
    assert_eq!(args.memory_limit, Some(4 << 30));
    assert!(container.args.as_deref() == Some(&["worker".to_owned()][..]));

    // Ready means /healthz, on the metrics port; alive means /metrics (a draining worker is
    // alive but not ready).
    let ready = container
        .readiness_probe
        .as_ref()
        .unwrap()
        .http_get
        .as_ref()
        .unwrap();
    assert_eq!(ready.path.as_deref(), Some("/healthz"));
    assert_eq!(ready.port, IntOrString::String("metrics".into()));
    let alive = container
        .liveness_probe
        .as_ref()
        .unwrap()
        .http_get
        .as_ref()
        .unwrap();
    assert_eq!(alive.path.as_deref(), Some("/metrics"));

    // Prometheus scrapes the metrics port.
    let annotations = template
        .metadata
        .as_ref()
        .unwrap()
        .annotations
        .clone()
        .unwrap();
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    assert_eq!(annotations["prometheus.io/port"], metrics.to_string());
    assert_eq!(annotations["prometheus.io/path"], "/metrics");

    // Draining ends before Kubernetes gives up waiting.
    let grace = pod.termination_grace_period_seconds.unwrap();
    assert!(args.drain_timeout + Duration::from_secs(5) <= Duration::from_secs(grace as u64));

    // The files the worker reads are the Secret's keys, mounted where it looks.
    let mount = &container.volume_mounts.as_ref().unwrap()[0];
    let volume = pod
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == mount.name)
        .unwrap();
    let from = volume.secret.as_ref().unwrap();
    assert_eq!(from.secret_name, secret.metadata.name);
    let keys = secret.string_data.as_ref().unwrap();
    let items = from.items.as_ref().unwrap();
    for item in items {
        assert!(
            keys.contains_key(&item.key),
            "the Secret has no {}",
            item.key
        );
    }
    for file in [Some(&args.cert), Some(&args.key), args.secret_file.as_ref()] {
        let file = file.unwrap();
        let relative = file
            .strip_prefix(&mount.mount_path)
            .unwrap_or_else(|_| panic!("{} is not under {}", file.display(), mount.mount_path));
        assert!(
            items.iter().any(|item| Path::new(&item.path) == relative),
            "{} is not mounted",
            file.display()
        );
    }

    // Workers spread over nodes, and leave one at a time.
    let anti = pod
        .affinity
        .as_ref()
        .unwrap()
        .pod_anti_affinity
        .as_ref()
        .unwrap();
    let term = &anti
        .preferred_during_scheduling_ignored_during_execution
        .as_ref()
        .unwrap()[0]
        .pod_affinity_term;
    assert_eq!(term.topology_key, "kubernetes.io/hostname");
    assert!(selects(
        term.label_selector
            .as_ref()
            .unwrap()
            .match_labels
            .as_ref()
            .unwrap()
    ));
    let budget = budget.spec.unwrap();
    assert!(selects(
        budget.selector.unwrap().match_labels.as_ref().unwrap()
    ));
    assert_eq!(budget.max_unavailable, Some(IntOrString::Int(1)));
}

#[test]
fn a_typo_in_a_manifest_is_caught() {
    let text = deploy("kubernetes/statefulset.yaml").replace("readinessProbe:", "readynessProbe:");
    let typed: StatefulSet = serde_yaml::from_str(&text).unwrap();
    let original: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let lost = dropped(&original, &serde_yaml::to_value(&typed).unwrap(), "");
    assert_eq!(lost, [".spec.template.spec.containers[0].readynessProbe"]);
}

#[test]
fn the_systemd_unit_gives_the_worker_flags_it_takes() {
    let unit = deploy("systemd/rivulet-worker.service");
    let value = |key: &str| -> Vec<String> {
        unit.lines()
            .filter_map(|line| line.strip_prefix(key)?.strip_prefix('='))
            .map(str::to_owned)
            .collect()
    };
    let env: BTreeMap<String, String> = value("Environment")
        .iter()
        .map(|pair| {
            let (k, v) = pair.split_once('=').expect("NAME=value");
            (k.to_owned(), v.to_owned())
        })
        .collect();
    let execs = value("ExecStart");
    let [exec] = execs.as_slice() else {
        panic!("one ExecStart: {execs:?}")
    };
    let mut words = exec.split_whitespace().map(|w| {
        w.replace(
            "${CREDENTIALS_DIRECTORY}",
            "/run/credentials/rivulet-worker.service",
        )
    });
    assert_eq!(
        words.next().as_deref(),
        Some("/usr/local/bin/rivulet-worker")
    );
    let flags: Vec<String> = words.collect();
    let args = worker_args(&env, &flags);
    // The credentials systemd hands over are the ones the flags name.
    for credential in value("LoadCredential") {
        let (name, _) = credential.split_once(':').unwrap();
        assert!(
            exec.contains(&format!("${{CREDENTIALS_DIRECTORY}}/{name}")),
            "{name} unused"
        );
    }
    assert!(args.secret_file.is_some());
    assert_eq!(value("KillSignal"), ["SIGTERM"]);
    let stop: u64 = value("TimeoutStopSec")[0].parse().unwrap();
    assert!(args.drain_timeout + Duration::from_secs(5) <= Duration::from_secs(stop));
    assert_eq!(value("RestartPreventExitStatus"), ["2"]);
    // The worker's memory limit is the cgroup's cap (systemd's G is 2^30 bytes).
    let cap = value("MemoryMax");
    let cap = cap[0].strip_suffix('G').expect("MemoryMax in G");
    let cap: u64 = cap.parse().expect("a whole number of G");
    assert_eq!(args.memory_limit, Some(cap << 30));
}

#[test]
fn the_container_image_listens_where_the_manifests_look() {
    let dockerfile = deploy("Dockerfile");
    let set: StatefulSet = parse("kubernetes/statefulset.yaml");
    let container = &set.spec.unwrap().template.spec.unwrap().containers[0];
    for port in [
        port_number(container, "quic"),
        port_number(container, "metrics"),
    ] {
        assert!(
            dockerfile.contains(&format!("{port}/")),
            "the image does not expose {port}"
        );
    }
    // The image's defaults are settings the worker takes.
    let env: BTreeMap<String, String> = dockerfile
        .lines()
        .map(|line| {
            line.trim()
                .trim_start_matches("ENV ")
                .trim_end_matches('\\')
                .trim()
        })
        .filter_map(|line| line.split_once('='))
        .filter(|(k, _)| k.starts_with("RIVULET_"))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert!(env.len() >= 5, "{env:?}");
    let args = worker_args(&env, &[]);
    assert_eq!(args.listen.port() as i32, port_number(container, "quic"));
}
