//! Opening the host's next link: discovery and the transport fallback the first time,
//! then straight to the relay and transport that worked, so that a resume costs one
//! handshake and not a discovery plus a fallback. A QUIC link's first flight repeats
//! until the relay answers (`client::quic::repeat`); a WebSocket link races handshakes.
//! A relay in a cluster lists its nodes in `/api/info`: when the one in use stops
//! answering, the next link goes to the next node (every node takes the host token).

use std::time::Duration;

use protocol::HostHello;

use crate::client::host_link::{self, HostOptions, HostTransport, OpenLink};
use crate::client::nodes::Nodes;
use crate::client::sharing::Target;
use crate::client::{NetError, RelayInfo, discovery};

/// While a WebSocket link resumes, a fresh handshake starts this often until one
/// completes: a lost SYN is otherwise retried only after TCP's own, growing, timeout, so
/// after an outage the next attempt gets through within this. Dense in the first round
/// after a loss, where most outages end; sparser later, to spare a link that stays down.
const FIRST_ATTEMPT_INTERVAL: Duration = Duration::from_millis(40);
const LATER_ATTEMPT_INTERVAL: Duration = Duration::from_millis(250);
/// How long one WebSocket handshake attempt may take: long enough for a round trip of a
/// second and more, short enough that attempts sent into an outage do not pile up.
const ATTEMPT_LIFETIME: Duration = Duration::from_millis(1500);
/// How long one round of racing handshakes lasts before the supervisor takes stock.
const RACE_FOR: Duration = Duration::from_secs(10);
/// How long a resuming attempt may take that must discover the relay again (and maybe
/// fall back).
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(6);
/// With other nodes to go to, how long opening a link to a node (its discovery included)
/// may take, and how long the node may then stay silent before the hello's welcome,
/// before the next node is tried: a live node answers a hello within a round trip.
const NODE_CONNECT: Duration = Duration::from_secs(3);
pub(crate) const NODE_SILENCE: Duration = Duration::from_secs(1);

/// Opens links, remembering what the relay published and which transport worked.
pub(crate) struct Connector {
    target: Target,
    /// The discovered relay and the transport of the last welcome.
    relay: Option<(RelayInfo, HostTransport)>,
    /// Rounds of racing WebSocket handshakes since the last link opened.
    races: u32,
    /// The relay's cluster; `target.base` is its current node.
    nodes: Nodes,
}

impl Connector {
    /// Discovers the relay at `target.base` first.
    pub fn new(target: Target) -> Connector {
        Connector {
            nodes: Nodes::new(target.base.clone()),
            target,
            relay: None,
            races: 0,
        }
    }

    /// Starts with `relay` as discovered, on `target.options.transport` (QUIC by default).
    pub fn knowing(target: Target, relay: RelayInfo) -> Connector {
        let transport = target.options.transport.unwrap_or(HostTransport::Quic);
        let mut nodes = Nodes::new(target.base.clone());
        nodes.learn(&relay);
        Connector {
            nodes,
            target,
            relay: Some((relay, transport)),
            races: 0,
        }
    }

    /// Whether other nodes can be tried when this one stays silent.
    pub fn has_other_nodes(&self) -> bool {
        self.nodes.has_others()
    }

    /// The node in use stopped answering: the next link goes to the next node.
    pub fn next_node(&mut self) {
        self.nodes.advance();
        self.target.base = self.nodes.current().clone();
        self.forget();
    }

    /// The next link, opened but not greeted; `hello` says whether it resumes.
    pub async fn connect(&mut self, hello: &HostHello) -> Result<OpenLink, NetError> {
        if !self.has_other_nodes() || hello.resume.is_none() {
            return self.open(hello).await;
        }
        tokio::time::timeout(NODE_CONNECT, self.open(hello))
            .await
            .map_err(|_| NetError::Timeout("the relay node's answer"))?
    }

    async fn open(&mut self, hello: &HostHello) -> Result<OpenLink, NetError> {
        let Some((relay, transport)) = &self.relay else {
            let first = async {
                let relay = discovery::discover(&self.target.base, &self.target.policy).await?;
                let link = host_link::open_host(&relay, &self.target.options).await?;
                Ok((relay, link))
            };
            let (relay, link) = match hello.resume {
                // Discovery and the transport fallback have timeouts of their own.
                None => first.await?,
                Some(_) => tokio::time::timeout(DISCOVERY_TIMEOUT, first)
                    .await
                    .map_err(|_| NetError::Timeout("rediscovering the relay"))??,
            };
            self.nodes.learn(&relay);
            self.relay = Some((relay, link.2));
            return Ok(link);
        };
        let options = HostOptions {
            transport: Some(*transport),
            ..self.target.options.clone()
        };
        let opened = match transport {
            // One attempt: its first flight repeats until the relay answers (`quic::repeat`).
            HostTransport::Quic => host_link::open_host(relay, &options).await,
            HostTransport::WebSocket => {
                let interval = match self.races {
                    0 => FIRST_ATTEMPT_INTERVAL,
                    _ => LATER_ATTEMPT_INTERVAL,
                };
                self.races += 1;
                race(relay, &options, interval).await
            }
        };
        match opened {
            Ok(link) => {
                self.races = 0;
                Ok(link)
            }
            Err(error @ NetError::Timeout(_)) => Err(error),
            Err(error) => {
                self.forget();
                Err(error)
            }
        }
    }

    /// The relay answered but not as before (restarted with another certificate, or UDP is
    /// now blocked): discover it afresh next time.
    pub fn forget(&mut self) {
        self.relay = None;
    }
}

/// Opens a WebSocket link with overlapping handshakes, one more every `interval`, each
/// given up after [`ATTEMPT_LIFETIME`]; the first to complete wins and the others are
/// dropped before any says hello, so the relay sees a single resume. Handshakes that time
/// out are replaced for [`RACE_FOR`]; any other failure ends the race.
async fn race(
    relay: &RelayInfo,
    options: &HostOptions,
    interval: Duration,
) -> Result<OpenLink, NetError> {
    let mut attempts = futures::stream::FuturesUnordered::new();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let give_up = tokio::time::sleep(RACE_FOR);
    tokio::pin!(give_up);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let attempt = tokio::time::timeout(ATTEMPT_LIFETIME, host_link::open_host(relay, options));
                attempts.push(async {
                    attempt.await.unwrap_or(Err(NetError::Timeout("WebSocket handshake")))
                });
            }
            Some(opened) = futures::StreamExt::next(&mut attempts) => match opened {
                Ok(link) => return Ok(link),
                Err(NetError::Timeout(_)) => {}
                Err(error) => return Err(error),
            },
            _ = &mut give_up => return Err(NetError::Timeout("resuming")),
        }
    }
}
