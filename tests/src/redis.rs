//! A real `redis-server` (Debian's package) on a loopback port (the machine's, or a network
//! namespace's), for the cluster's tests and benchmark: started with no persistence in a
//! directory of its own, stopped, started again on the same port (everything it held is
//! gone, as after a restart without persistence), killed when dropped.

use std::process::Command;
use std::time::Duration;

use anyhow::Context;

use crate::lab::Watched;
use crate::netem::Netns;

/// How long redis-server may take to say it is ready.
const READY_WITHIN: Duration = Duration::from_secs(20);

pub struct RedisServer {
    port: u16,
    /// The network namespace it runs in, if not the machine's.
    netns: Option<String>,
    dir: tempfile::TempDir,
    process: Option<Watched>,
    /// Users added besides the default one, made again at each start.
    users: Vec<String>,
}

impl RedisServer {
    /// Starts redis-server on a free loopback port.
    pub async fn start() -> anyhow::Result<RedisServer> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        RedisServer::started(port, None).await
    }

    /// Starts redis-server on the loopback of `ns` (port 6379), for relays in `ns`.
    pub async fn start_in(ns: &Netns) -> anyhow::Result<RedisServer> {
        RedisServer::started(6379, Some(ns.name().to_owned())).await
    }

    async fn started(port: u16, netns: Option<String>) -> anyhow::Result<RedisServer> {
        let mut server = RedisServer {
            port,
            netns,
            dir: tempfile::tempdir()?,
            process: None,
            users: Vec::new(),
        };
        server.run().await?;
        Ok(server)
    }

    async fn run(&mut self) -> anyhow::Result<()> {
        let mut command = match &self.netns {
            // `ip netns exec` becomes redis-server (exec), so its pid is the server's.
            Some(ns) => {
                let mut command = Command::new("ip");
                command.args(["netns", "exec", ns, "redis-server"]);
                command
            }
            None => Command::new("redis-server"),
        };
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path());
        for user in &self.users {
            // redis-server joins the words after `--user` into one configuration line.
            command.arg("--user").args(user_rule(user).split(' '));
        }
        let process = Watched::spawn("redis-server", command).context(
            "redis-server (Debian package redis-server; scripts/test-deps.sh installs it)",
        )?;
        process
            .wait_for("Ready to accept connections", READY_WITHIN)
            .await?;
        self.process = Some(process);
        Ok(())
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Adds `name`, a user who may do anything (its password is its name), so that a test
    /// can take rights from one client, a cluster node, and not from the others.
    pub async fn add_user(&mut self, name: &str) -> anyhow::Result<()> {
        let mut redis = redis::Client::open(self.url())?
            .get_multiplexed_async_connection()
            .await?;
        let mut acl = redis::cmd("ACL");
        acl.arg("SETUSER");
        for word in user_rule(name).split(' ') {
            acl.arg(word);
        }
        acl.query_async::<()>(&mut redis).await?;
        self.users.push(name.to_owned());
        Ok(())
    }

    /// `redis://NAME:NAME@127.0.0.1:PORT`, for a user [added](Self::add_user).
    pub fn url_as(&self, name: &str) -> String {
        format!("redis://{name}:{name}@127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().and_then(Watched::pid)
    }

    /// Stops the server (SIGTERM) and waits for it to exit.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(process) = self.process.take() {
            process.terminate().await?;
        }
        Ok(())
    }

    /// Starts it again on the same port, empty.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await?;
        self.run().await
    }
}

/// An ACL rule: user `name`, password `name`, every key, channel and command.
fn user_rule(name: &str) -> String {
    format!("{name} on >{name} ~* &* +@all")
}
