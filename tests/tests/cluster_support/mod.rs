//! Shared setup of the cluster tests: a real redis-server on a loopback port and relay
//! nodes that join it, in this process (the relay library) or as child processes (the
//! `relay` binary, to be killed), with real hosts and viewers through `cli_share::client`.

#![allow(dead_code)] // Each test file uses a subset.

#[path = "../relay_support/mod.rs"]
mod relay_support;

use std::time::Duration;

use e2e::lab::{Watched, workspace_binary};
use e2e::redis::RedisServer;
pub use relay::{ClusterConfig, RelayConfig};
pub use relay_support::*;

/// Every node's JWT secret.
pub const SECRET: &[u8] = b"the cluster's shared secret, 32b";

/// A node's relay configuration: loopback ports, the shared secret, `redis`.
pub fn node_config(redis: &RedisServer, id: &str) -> RelayConfig {
    RelayConfig {
        jwt_secret: Some(SECRET.to_vec()),
        cluster: Some(ClusterConfig {
            redis: redis.url(),
            node_id: id.to_owned(),
            advertise: None,
        }),
        ..RelayConfig::loopback()
    }
}

/// Nodes in this process, all joined to one Redis.
pub struct Cluster {
    pub redis: RedisServer,
    pub nodes: Vec<Harness>,
}

impl Cluster {
    /// Redis and `ids.len()` nodes, each knowing all the others.
    pub async fn start(ids: &[&str]) -> Cluster {
        Cluster::start_with(ids, |config| config).await
    }

    /// Like [`start`](Self::start), each node's configuration passed through `adjust`. Each
    /// node is a Redis user of its own, named by its id.
    pub async fn start_with(ids: &[&str], adjust: impl Fn(RelayConfig) -> RelayConfig) -> Cluster {
        let mut redis = RedisServer::start().await.expect("redis-server starts");
        let mut nodes = Vec::new();
        for id in ids {
            redis.add_user(id).await.expect("a Redis user for the node");
            let mut config = node_config(&redis, id);
            if let Some(cluster) = config.cluster.as_mut() {
                cluster.redis = redis.url_as(id);
            }
            nodes.push(start(adjust(config)).await);
        }
        let cluster = Cluster { redis, nodes };
        for node in &cluster.nodes {
            wait_metric(node, "relay_cluster_nodes", |n| n == ids.len() as u64).await;
        }
        cluster
    }

    pub fn node(&self, i: usize) -> &Harness {
        &self.nodes[i]
    }
}

/// A relay binary joined to `redis` as `id`, whose output a test reads.
pub struct NodeProcess {
    pub process: Watched,
    pub http: std::net::SocketAddr,
}

impl NodeProcess {
    /// Starts the relay binary on free loopback ports, with `extra` flags.
    pub async fn start(
        redis: &RedisServer,
        id: &str,
        extra: &[&str],
    ) -> anyhow::Result<NodeProcess> {
        let http = free_port()?;
        let quic = free_udp_port()?;
        let mut command = std::process::Command::new(workspace_binary("relay")?);
        command
            .args(["--http", &http.to_string(), "--quic", &quic.to_string()])
            .args(["--cluster", &redis.url(), "--node-id", id])
            .args(["--advertise", &format!("http://{http}")])
            .args(extra)
            .env("RELAY_JWT_SECRET", std::str::from_utf8(SECRET)?)
            .env("RELAY_LOG", "info,relay=debug");
        let process = Watched::spawn(id, command)?;
        process
            .wait_for("relay listening", Duration::from_secs(20))
            .await?;
        Ok(NodeProcess { process, http })
    }

    pub fn base(&self) -> url::Url {
        url::Url::parse(&format!("http://{}", self.http)).unwrap()
    }

    /// SIGKILL, as a crashed machine.
    pub fn kill(&self) {
        if let Some(pid) = self.process.pid() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }

    pub async fn metrics(&self) -> String {
        let (_, body) = within("metrics", http_get(self.http, "/metrics")).await;
        body
    }
}

fn free_port() -> anyhow::Result<std::net::SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

fn free_udp_port() -> anyhow::Result<std::net::SocketAddr> {
    Ok(std::net::UdpSocket::bind("127.0.0.1:0")?.local_addr()?)
}
