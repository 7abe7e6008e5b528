//! The relay's TLS resumption tickets (0-RTT for resuming hosts), kept in two partitions so
//! that anonymous handshakes cannot flush the hosts' tickets. Every QUIC connection gets a
//! store of its own ([`ConnectionTickets`]) over the shared one: its tickets go to the
//! anonymous partition, and move to the hosts' partition once the connection's hello was
//! welcomed (a valid host key or host token, on a relay that bounds sessions per address).
//! Partitioning by ALPN alone would not do: anyone can offer the host ALPN.
//!
//! Tickets stay stateful: rustls takes each one out as it is used, so a replayed first
//! flight finds no ticket and its 0-RTT data is refused.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rustls::server::{ServerSessionMemoryCache, StoresServerSessions};

/// Tickets of welcomed hosts (a few hundred bytes each; rustls issues two per connection),
/// the oldest forgotten first. A host whose ticket was forgotten resumes in one round trip
/// more.
const HOST_TICKETS: usize = 16 * 1024;
/// Tickets of every other connection: browsers, refused and not yet welcomed hosts.
const OTHER_TICKETS: usize = 4 * 1024;
/// Tickets one connection may issue (rustls sends two).
const PER_CONNECTION: usize = 4;

#[derive(Debug)]
pub(crate) struct Tickets {
    hosts: Arc<ServerSessionMemoryCache>,
    others: Arc<ServerSessionMemoryCache>,
}

impl Tickets {
    pub fn new() -> Arc<Self> {
        Arc::new(Tickets {
            hosts: ServerSessionMemoryCache::new(HOST_TICKETS),
            others: ServerSessionMemoryCache::new(OTHER_TICKETS),
        })
    }

    /// The store of tickets issued to connections no one vouched for.
    pub fn anonymous(&self) -> Arc<ServerSessionMemoryCache> {
        self.others.clone()
    }

    pub fn for_connection(self: &Arc<Self>) -> Arc<ConnectionTickets> {
        Arc::new(ConnectionTickets {
            tickets: self.clone(),
            issued: Mutex::default(),
            host: AtomicBool::new(false),
        })
    }
}

/// One connection's view of the [`Tickets`].
#[derive(Debug)]
pub(crate) struct ConnectionTickets {
    tickets: Arc<Tickets>,
    issued: Mutex<Vec<Vec<u8>>>,
    host: AtomicBool,
}

impl ConnectionTickets {
    /// The connection is a welcomed host: its tickets, issued and to come, are kept with
    /// the hosts'.
    pub fn promote(&self) {
        self.host.store(true, Ordering::Release);
        let issued = std::mem::take(&mut *self.issued.lock().unwrap_or_else(|e| e.into_inner()));
        for key in issued {
            if let Some(value) = self.tickets.others.take(&key) {
                self.tickets.hosts.put(key, value);
            }
        }
    }
}

impl StoresServerSessions for ConnectionTickets {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        if self.host.load(Ordering::Acquire) {
            return self.tickets.hosts.put(key, value);
        }
        let mut issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        if issued.len() >= PER_CONNECTION {
            return false;
        }
        issued.push(key.clone());
        self.tickets.others.put(key, value)
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.tickets
            .hosts
            .get(key)
            .or_else(|| self.tickets.others.get(key))
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.tickets
            .hosts
            .take(key)
            .or_else(|| self.tickets.others.take(key))
    }

    fn can_cache(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: usize) -> Vec<u8> {
        n.to_be_bytes().to_vec()
    }

    #[test]
    fn anonymous_tickets_cannot_flush_a_hosts_ticket() {
        let tickets = Tickets::new();
        let host = tickets.for_connection();
        assert!(host.put(key(0), b"host".to_vec()));
        host.promote();
        assert!(host.put(key(1), b"host, later".to_vec()));
        for n in 2..(HOST_TICKETS + OTHER_TICKETS) * 2 {
            let anonymous = tickets.for_connection();
            anonymous.put(key(n), b"anonymous".to_vec());
        }
        let resuming = tickets.for_connection();
        assert_eq!(resuming.take(&key(0)).as_deref(), Some(&b"host"[..]));
        assert_eq!(resuming.take(&key(1)).as_deref(), Some(&b"host, later"[..]));
        assert_eq!(resuming.take(&key(0)), None, "a ticket is used once");
        let newest = (HOST_TICKETS + OTHER_TICKETS) * 2 - 1;
        assert!(
            resuming.take(&key(newest)).is_some(),
            "anonymous ones resume too"
        );
    }

    #[test]
    fn a_connection_issues_a_bounded_number_of_tickets() {
        let tickets = Tickets::new();
        let one = tickets.for_connection();
        let stored = (0..10).filter(|n| one.put(key(*n), vec![0])).count();
        assert_eq!(stored, PER_CONNECTION);
    }
}
