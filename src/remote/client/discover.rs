//! `Client::discover`: the workers behind a DNS name, followed as its records change.
//!
//! The name is resolved to every address it has (a Kubernetes headless Service, Consul or
//! Nomad DNS, a hosts file) and resolved again every
//! [`ConnectConfig::discovery_interval`]. An address that appears is dialled and joins;
//! one that disappears is drained: placement sends it nothing new, what it has in flight may
//! finish (for at most [`DRAIN_LIMIT`]), then it is closed, and whatever it still had runs
//! again elsewhere, as for a lost worker. A worker that stays in the name but whose connection
//! breaks (it restarted, the network blipped) is dialled again with backoff, as
//! [`Client::connect`]'s are. A resolution that fails or comes back empty changes nothing: a
//! DNS hiccup does not empty the fleet.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::task::JoinSet;

use super::{Client, ClientAuth, ClientError, ClientInner, ConnectConfig, Dialer, Link};
use crate::remote::obs::MemberChange;
use crate::remote::proto::WorkerId;
use crate::remote::transport;

/// The longest a retired worker may keep its work in flight before it is closed.
pub(crate) const DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// How often a draining worker is looked at.
const DRAIN_POLL: Duration = Duration::from_millis(20);

impl Client {
    /// Connects to every worker behind `name` (`host:port`) and follows the name as its
    /// records change: re-resolved every [`ConnectConfig::discovery_interval`], new addresses
    /// join, vanished ones are drained and closed (their unfinished items run elsewhere).
    /// The dashboard and `/metrics` show each change.
    ///
    /// It returns once it is connected to at least one of the addresses; those that did not
    /// answer are tried again at each resolution.
    ///
    /// ```no_run
    /// use rivulet::remote::{ClientAuth, ConnectConfig, Trust};
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let secret = std::fs::read("certs/secret")?;
    /// let mut config = ConnectConfig::new(
    ///     Trust::ca_from_pem_file("certs/ca.pem")?,
    ///     ClientAuth::Secret(secret.trim_ascii().to_vec()),
    /// );
    /// config.discovery_interval = std::time::Duration::from_secs(2);
    /// // A Kubernetes headless Service: one A record per ready worker pod.
    /// let client = rivulet::Client::discover("rivulet-workers.default.svc.cluster.local:7878", config).await?;
    /// println!("{} workers", client.workers().len());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`ClientError::Resolve`] or [`ClientError::NoAddresses`] if the name gives no address
    /// now; the error of the first address if none of them could be connected to.
    pub async fn discover(name: &str, config: ConnectConfig) -> Result<Client, ClientError> {
        Client::discover_with(name, config, |name: &str| {
            let name = name.to_owned();
            async move { tokio::net::lookup_host(name).await.map(Iterator::collect) }
        })
        .await
    }

    /// [`discover`](Self::discover) with a resolver of your own in place of DNS (a service
    /// registry's API, a file of addresses): `resolve(name)` gives the addresses `name` has
    /// now; it is called at the start and every [`ConnectConfig::discovery_interval`].
    ///
    /// ```no_run
    /// use std::net::SocketAddr;
    /// # async fn example(config: rivulet::remote::ConnectConfig) -> Result<(), rivulet::remote::ClientError> {
    /// // One address a line, re-read at every resolution.
    /// let client = rivulet::Client::discover_with("workers.txt", config, |path: &str| {
    ///     let path = path.to_owned();
    ///     async move {
    ///         let text = tokio::fs::read_to_string(path).await?;
    ///         Ok(text.lines().filter_map(|line| line.trim().parse::<SocketAddr>().ok()).collect())
    ///     }
    /// })
    /// .await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// As for [`discover`](Self::discover).
    pub async fn discover_with<R, F>(
        name: &str,
        config: ConnectConfig,
        resolve: R,
    ) -> Result<Client, ClientError>
    where
        R: Fn(&str) -> F + Send + Sync + 'static,
        F: std::future::Future<Output = std::io::Result<Vec<SocketAddr>>> + Send + 'static,
    {
        let resolver: Resolver = Arc::new(move |name: &str| Box::pin(resolve(name)));
        let addrs = resolve_name(&resolver, name).await?;
        let client_identity = match &config.auth {
            ClientAuth::Certificate(identity) => Some(identity),
            ClientAuth::Secret(_) => None,
        };
        let client_config =
            transport::client_config(&config.trust, client_identity, &config.transport)?;
        let bind = if addrs.iter().all(SocketAddr::is_ipv6) {
            SocketAddr::from(([0u16; 8], 0))
        } else {
            SocketAddr::from(([0, 0, 0, 0], 0))
        };
        let endpoint = quinn::Endpoint::client(bind).map_err(ClientError::Endpoint)?;
        let interval = config.discovery_interval;
        let client = Client::with_dialer(Some(Dialer {
            endpoint,
            client_config,
            config,
        }));
        let metrics = Arc::clone(&client.inner.metrics);
        metrics.membership().set_name(name);
        metrics.membership().resolved(addrs.len());
        let dialled =
            futures::future::join_all(addrs.iter().map(|addr| client.open_link(*addr))).await;
        let mut members = HashMap::new();
        let mut links = Vec::new();
        let mut first_error = None;
        let mut unreachable = HashSet::new();
        for (addr, dialled) in addrs.iter().zip(dialled) {
            match dialled {
                Ok(link) => {
                    members.insert(*addr, link.id);
                    metrics.on_membership(
                        Some(link.id),
                        Some(*addr),
                        MemberChange::Joined,
                        String::new(),
                    );
                    links.push(link);
                }
                Err(error) => {
                    metrics.on_membership(
                        None,
                        Some(*addr),
                        MemberChange::Unreachable,
                        error.to_string(),
                    );
                    unreachable.insert(*addr);
                    first_error.get_or_insert(error);
                }
            }
        }
        if links.is_empty() {
            return Err(first_error.unwrap_or(ClientError::NoWorkers));
        }
        for link in &links {
            client.redial_when_lost(link);
        }
        *client
            .inner
            .links
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = links;
        let discovery = Discovery {
            client: Arc::downgrade(&client.inner),
            resolver,
            name: name.to_owned(),
            members,
            joining: HashSet::new(),
            unreachable,
        };
        tokio::spawn(discovery.run(interval));
        Ok(client)
    }
}

/// Whether the worker `id` was retired by discovery (so its lost link is not dialled again):
/// it is no longer in the client's list, or it is there draining.
pub(super) fn retired(inner: &ClientInner, id: WorkerId) -> bool {
    !inner
        .read_links()
        .iter()
        .any(|link| link.id == id && !link.is_draining())
}

/// What gives the addresses of a name.
type Resolver = Arc<
    dyn Fn(&str) -> futures::future::BoxFuture<'static, std::io::Result<Vec<SocketAddr>>>
        + Send
        + Sync,
>;

/// A lost worker was dialled again, but discovery retired it meanwhile: the new link is
/// closed at once, as a departure rather than a loss.
pub(super) fn left_while_dialling(inner: &ClientInner, link: &Link) {
    inner.metrics.on_worker_left(
        link.id,
        "retired while it was being dialled again".to_owned(),
    );
    link.close();
}

/// Every address `name` resolves to, in the resolver's order, without repeats.
async fn resolve_name(resolver: &Resolver, name: &str) -> Result<Vec<SocketAddr>, ClientError> {
    let found = resolver(name)
        .await
        .map_err(|source| ClientError::Resolve {
            name: name.to_owned(),
            source,
        })?;
    let mut seen = HashSet::new();
    let addrs: Vec<SocketAddr> = found
        .into_iter()
        .filter(|addr| seen.insert(*addr))
        .collect();
    if addrs.is_empty() {
        return Err(ClientError::NoAddresses {
            name: name.to_owned(),
        });
    }
    Ok(addrs)
}

/// The background task that follows the name; it holds the client weakly and ends with it.
struct Discovery {
    client: Weak<ClientInner>,
    resolver: Resolver,
    name: String,
    /// The addresses that are members, and their workers.
    members: HashMap<SocketAddr, WorkerId>,
    /// Addresses being dialled now.
    joining: HashSet<SocketAddr>,
    /// Addresses whose last dial failed (their failure is recorded once, not at every try).
    unreachable: HashSet<SocketAddr>,
}

/// A dial's outcome: the address, and the link or why not.
type Joined = (SocketAddr, Result<Arc<Link>, ClientError>);

impl Discovery {
    async fn run(mut self, interval: Duration) {
        let mut joins: JoinSet<Joined> = JoinSet::new();
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if !self.live() {
                        return;
                    }
                    let resolved = resolve_name(&self.resolver, &self.name).await;
                    let Some(inner) = self.client.upgrade() else { return };
                    match resolved {
                        Ok(addrs) => {
                            inner.metrics.membership().resolved(addrs.len());
                            self.follow(&inner, &addrs, &mut joins);
                        }
                        Err(error) => {
                            tracing::debug!(name = %self.name, %error, "resolution failed; members kept");
                            inner.metrics.on_membership(None, None, MemberChange::ResolveFailed, error.to_string());
                        }
                    }
                }
                Some(joined) = joins.join_next(), if !joins.is_empty() => {
                    // A dial that panicked is only a failed dial.
                    if let Ok((addr, dialled)) = joined {
                        self.joining.remove(&addr);
                        self.joined(addr, dialled);
                    }
                }
            }
        }
    }

    /// Whether the client is still there and open.
    fn live(&self) -> bool {
        self.client
            .upgrade()
            .is_some_and(|inner| !inner.closed.load(Ordering::Acquire))
    }

    /// Dials the addresses that appeared, drains the members whose address disappeared.
    fn follow(
        &mut self,
        inner: &Arc<ClientInner>,
        addrs: &[SocketAddr],
        joins: &mut JoinSet<Joined>,
    ) {
        let now: HashSet<SocketAddr> = addrs.iter().copied().collect();
        for addr in addrs {
            if self.members.contains_key(addr) || !self.joining.insert(*addr) {
                continue;
            }
            let Some(dial) = dial(inner, *addr) else {
                self.joining.remove(addr);
                continue;
            };
            let addr = *addr;
            joins.spawn(async move { (addr, dial.await) });
        }
        let gone: Vec<(SocketAddr, WorkerId)> = self
            .members
            .iter()
            .filter(|(addr, _)| !now.contains(addr))
            .map(|(addr, id)| (*addr, *id))
            .collect();
        for (addr, id) in gone {
            self.members.remove(&addr);
            let link = inner
                .read_links()
                .iter()
                .find(|link| link.id == id)
                .cloned();
            if let Some(link) = link {
                tracing::debug!(worker = %id, "its address left {}: draining", self.name);
                link.set_draining();
                inner.metrics.on_worker_draining(id);
                tokio::spawn(drain(Arc::downgrade(inner), link));
            }
        }
        // An address that is gone is no longer worth a failure record.
        self.unreachable.retain(|addr| now.contains(addr));
    }

    /// A dial finished: the worker joins (if the client is still there and the address still
    /// wanted), or its failure is recorded.
    fn joined(&mut self, addr: SocketAddr, dialled: Result<Arc<Link>, ClientError>) {
        let Some(inner) = self.client.upgrade() else {
            if let Ok(link) = dialled {
                link.close();
            }
            return;
        };
        match dialled {
            Ok(link) if !inner.closed.load(Ordering::Acquire) => {
                tracing::debug!(worker = %link.id, "joined from {}", self.name);
                self.unreachable.remove(&addr);
                self.members.insert(addr, link.id);
                inner.metrics.on_membership(
                    Some(link.id),
                    Some(addr),
                    MemberChange::Joined,
                    String::new(),
                );
                inner
                    .links
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .push(Arc::clone(&link));
                Client { inner }.redial_when_lost(&link);
            }
            Ok(link) => link.close(),
            Err(error) => {
                if self.unreachable.insert(addr) {
                    inner.metrics.on_membership(
                        None,
                        Some(addr),
                        MemberChange::Unreachable,
                        error.to_string(),
                    );
                }
            }
        }
    }
}

/// A dial of `addr` as a new worker that does not hold the client (so that dropping the client
/// is not held up by a dial); `None` for a client that cannot dial.
fn dial(
    inner: &ClientInner,
    addr: SocketAddr,
) -> Option<impl std::future::Future<Output = Result<Arc<Link>, ClientError>> + Send + 'static> {
    let dialer = inner.dialer.as_ref()?;
    let id = WorkerId::new(inner.next_worker.fetch_add(1, Ordering::Relaxed), addr);
    let (endpoint, client_config, config, metrics) = (
        dialer.endpoint.clone(),
        dialer.client_config.clone(),
        dialer.config.clone(),
        Arc::clone(&inner.metrics),
    );
    Some(async move { Link::connect(&endpoint, client_config, id, &config, metrics).await })
}

/// Waits (at most [`DRAIN_LIMIT`]) until `link` has nothing in flight, then closes it and takes
/// it out of the client's list (keeping the list non-empty: a client always has a link).
async fn drain(client: Weak<ClientInner>, link: Arc<Link>) {
    let started = tokio::time::Instant::now();
    let mut waits = 0u64;
    while link.is_alive() && link.outstanding() > 0 && started.elapsed() < DRAIN_LIMIT {
        tokio::time::sleep(DRAIN_POLL).await;
        waits += 1;
    }
    let Some(inner) = client.upgrade() else {
        return;
    };
    let detail = if !link.is_alive() {
        "its connection had ended".to_owned()
    } else if link.outstanding() == 0 {
        format!("drained in {:.1?}", started.elapsed())
    } else {
        format!(
            "{} requests still in flight after {DRAIN_LIMIT:?}; they run again elsewhere",
            link.outstanding()
        )
    };
    tracing::debug!(worker = %link.id, waits, "{detail}");
    inner.metrics.on_worker_left(link.id, detail);
    link.close();
    let mut links = inner
        .links
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if links.len() > 1 {
        links.retain(|other| !Arc::ptr_eq(other, &link) && other.id != link.id);
    }
}
