//! 0-RTT for host links. A host's next QUIC connection resumes its last one with a ticket
//! the relay gave it, and sends its hello and first frame (the keyframe) before the
//! handshake completes. After an outage, viewers then see the host back half a round trip
//! after the path returns, not two. Later frames wait for the relay's answer. What the
//! first flight repeats (see [`crate::client::quic::repeat`]) stays small, and a relay that refuses
//! the 0-RTT data (it restarted, or forgot the ticket) costs one frame, sent again on the
//! next link.

use std::sync::{Arc, LazyLock, Mutex};

use rustls::NamedGroup;
use rustls::client::{
    ClientSessionMemoryCache, ClientSessionStore, Resumption, Tls12ClientSessionValue,
    Tls13ClientSessionValue,
};
use rustls_pki_types::ServerName;

use crate::client::NetError;

/// Relays (by name) whose tickets are kept.
const RELAYS_REMEMBERED: usize = 32;

/// Host links' resumption tickets, shared by every host link of the process (only host
/// links use them, so a ticket always resumes a connection with the host ALPN). All are
/// forgotten when a relay refuses 0-RTT: it restarted, and every ticket it gave is void.
/// Kept, each would cost the next links a refused hello in turn.
#[derive(Debug)]
struct Tickets(Mutex<Arc<ClientSessionMemoryCache>>);

impl Tickets {
    fn current(&self) -> Arc<ClientSessionMemoryCache> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn forget(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) =
            Arc::new(ClientSessionMemoryCache::new(RELAYS_REMEMBERED));
    }
}

impl ClientSessionStore for Tickets {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.current().set_kx_hint(server_name, group);
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.current().kx_hint(server_name)
    }

    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.current().set_tls12_session(server_name, value);
    }

    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.current().tls12_session(server_name)
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.current().remove_tls12_session(server_name);
    }

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: Tls13ClientSessionValue,
    ) {
        self.current().insert_tls13_ticket(server_name, value);
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<Tls13ClientSessionValue> {
        self.current().take_tls13_ticket(server_name)
    }
}

fn tickets() -> &'static Arc<Tickets> {
    static TICKETS: LazyLock<Arc<Tickets>> = LazyLock::new(|| {
        Arc::new(Tickets(Mutex::new(Arc::new(
            ClientSessionMemoryCache::new(RELAYS_REMEMBERED),
        ))))
    });
    &TICKETS
}

/// Lets a host link's TLS resume with the shared tickets and send 0-RTT data.
pub(crate) fn allow_early_data(tls: &mut rustls::ClientConfig) {
    tls.resumption = Resumption::store(tickets().clone());
    tls.enable_early_data = true;
}

/// Whether a link's frames may go now: always for a link opened in 1-RTT; for one opened
/// in 0-RTT, the first frame at once and the others once the relay has taken the 0-RTT
/// data.
pub(crate) struct EarlyGate {
    /// Resolves at the end of the handshake: whether the relay took the 0-RTT data.
    accepted: Option<quinn::ZeroRttAccepted>,
    frame_sent: bool,
}

impl EarlyGate {
    pub fn open() -> EarlyGate {
        EarlyGate {
            accepted: None,
            frame_sent: true,
        }
    }

    pub fn until(accepted: quinn::ZeroRttAccepted) -> EarlyGate {
        EarlyGate {
            accepted: Some(accepted),
            frame_sent: false,
        }
    }

    /// Whether the relay has not answered yet: frames then go on the stream only (a
    /// datagram copy would only make the repeated first flight bigger).
    pub fn is_early(&self) -> bool {
        self.accepted.is_some()
    }

    /// Waits until a frame may go on `conn`.
    pub async fn before_frame(&mut self, conn: &quinn::Connection) -> Result<(), NetError> {
        if self.frame_sent && self.is_early() {
            self.settled(conn).await?;
        }
        self.frame_sent = true;
        Ok(())
    }

    /// Resolves when the handshake of a 0-RTT link on `conn` ends: `Ok` if the relay took
    /// the data (every later call then waits forever), an error if it refused it or the
    /// handshake failed. Never resolves for a link opened in 1-RTT. Cancel-safe.
    pub async fn settled(&mut self, conn: &quinn::Connection) -> Result<(), NetError> {
        let Some(accepted) = &mut self.accepted else {
            return std::future::pending().await;
        };
        let taken = accepted.await;
        self.accepted = None;
        match (taken, conn.close_reason()) {
            (true, _) => Ok(()),
            (false, Some(failed)) => Err(NetError::from_quic(failed)),
            (false, None) => {
                tickets().forget();
                Err(NetError::EarlyDataRejected)
            }
        }
    }
}
