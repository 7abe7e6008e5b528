//! The node's one subscription connection: its own inbox, and the channel of every session
//! it replicates. Subscribing waits for Redis to confirm, so that a replica asks for its
//! snapshot only once the answer cannot be missed. The connection is pinged; when it breaks
//! (Redis restarted, or away) the listener is told, and once it is back every channel is
//! subscribed again and the listener told that too (replicas then ask for snapshots).

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// How long connecting, subscribing or a ping may take.
const TIMEOUT: Duration = Duration::from_secs(2);
/// How often an idle subscription connection is pinged.
const PING_EVERY: Duration = Duration::from_secs(1);
/// Pauses between attempts to reconnect.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(1);
/// Channels per SUBSCRIBE when (re)subscribing to everything.
const SUBSCRIBE_CHUNK: usize = 512;

/// What the subscription hands on.
pub(crate) trait Listener: Send + Sync + 'static {
    fn message(&self, channel: &str, payload: Bytes);
    /// The subscription broke (`false`) or is up again, every channel subscribed (`true`).
    fn connected(&self, up: bool);
}

pub(crate) enum Command {
    Add(String, oneshot::Sender<bool>),
    Remove(String),
}

/// Asks the subscription task to change what it listens to.
#[derive(Clone)]
pub(crate) struct Subscriptions {
    commands: mpsc::UnboundedSender<Command>,
}

impl Subscriptions {
    /// Subscribes to `channel`; true once Redis confirmed, false if it could not be asked.
    pub async fn add(&self, channel: String) -> bool {
        let (ack, acked) = oneshot::channel();
        if self.commands.send(Command::Add(channel, ack)).is_err() {
            return false;
        }
        matches!(tokio::time::timeout(TIMEOUT * 2, acked).await, Ok(Ok(true)))
    }

    pub fn remove(&self, channel: String) {
        let _ = self.commands.send(Command::Remove(channel));
    }
}

/// Starts nothing yet: [`run`] is the task.
pub(crate) fn channel() -> (Subscriptions, mpsc::UnboundedReceiver<Command>) {
    let (commands, rx) = mpsc::unbounded_channel();
    (Subscriptions { commands }, rx)
}

/// Keeps the subscription up until `shutdown`, always subscribed to `inbox`.
pub(crate) async fn run(
    client: redis::Client,
    inbox: String,
    mut commands: mpsc::UnboundedReceiver<Command>,
    listener: impl Listener,
    shutdown: CancellationToken,
) {
    let mut desired: HashSet<String> = HashSet::from([inbox]);
    let mut retry = RETRY_FIRST;
    loop {
        let connected = tokio::select! {
            connected = tokio::time::timeout(TIMEOUT, subscribed(&client, &desired)) => connected,
            _ = shutdown.cancelled() => return,
        };
        let Ok(Ok(pubsub)) = connected else {
            // Nobody may wait on a subscription that cannot be made now.
            let pause = tokio::time::sleep(retry);
            tokio::pin!(pause);
            loop {
                tokio::select! {
                    _ = &mut pause => break,
                    _ = shutdown.cancelled() => return,
                    command = commands.recv() => match command {
                        Some(Command::Add(_, ack)) => { let _ = ack.send(false); }
                        Some(Command::Remove(channel)) => { desired.remove(&channel); }
                        None => return,
                    },
                }
            }
            retry = (retry * 2).min(RETRY_MAX);
            continue;
        };
        retry = RETRY_FIRST;
        listener.connected(true);
        let (mut sink, mut stream) = pubsub.split();
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.reset();
        loop {
            let alive = tokio::select! {
                message = stream.next() => match message {
                    Some(message) => {
                        let payload = Bytes::copy_from_slice(message.get_payload_bytes());
                        listener.message(message.get_channel_name(), payload);
                        true
                    }
                    None => false,
                },
                command = commands.recv() => match command {
                    Some(Command::Add(channel, ack)) => {
                        let done = tokio::time::timeout(TIMEOUT, sink.subscribe(&channel)).await;
                        let ok = matches!(done, Ok(Ok(())));
                        desired.insert(channel);
                        let _ = ack.send(ok);
                        ok
                    }
                    Some(Command::Remove(channel)) => {
                        desired.remove(&channel);
                        let done = tokio::time::timeout(TIMEOUT, sink.unsubscribe(&channel)).await;
                        matches!(done, Ok(Ok(())))
                    }
                    None => return,
                },
                _ = ping.tick() => {
                    let pong = tokio::time::timeout(TIMEOUT, sink.ping::<redis::Value>()).await;
                    matches!(pong, Ok(Ok(_)))
                }
                _ = shutdown.cancelled() => return,
            };
            if !alive {
                break;
            }
        }
        listener.connected(false);
    }
}

/// A new subscription connection, subscribed to every channel of `desired`.
async fn subscribed(
    client: &redis::Client,
    desired: &HashSet<String>,
) -> redis::RedisResult<redis::aio::PubSub> {
    let mut pubsub = client.get_async_pubsub().await?;
    let channels: Vec<&String> = desired.iter().collect();
    for chunk in channels.chunks(SUBSCRIBE_CHUNK) {
        pubsub.subscribe(chunk).await?;
    }
    Ok(pubsub)
}
