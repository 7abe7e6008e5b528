//! Two network namespaces joined by a veth pair, a plain unimpaired link (the netem module
//! is for impaired ones): A for the server under test, B for everything that reaches it
//! from elsewhere. Names that programs in B look up can be pointed at A (a hosts file that
//! `ip netns exec` mounts over `/etc/hosts`). Everything is removed on drop.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::netem::{NetemError, Netns};

/// The veth end's name in either namespace.
const DEVICE: &str = "lab0";

/// Namespaces A and B, at `10.78.<n>.1` and `10.78.<n>.2`.
#[derive(Debug)]
pub struct Lan {
    /// The server side.
    pub a: Netns,
    /// The side that reaches the server "from the internet".
    pub b: Netns,
    pub addr_a: Ipv4Addr,
    pub addr_b: Ipv4Addr,
    /// Hosts files to remove (before the namespaces go: `Drop` runs before the fields').
    hosts_files: Vec<PathBuf>,
}

impl Lan {
    /// Creates both namespaces and the link. Needs root. Blocks while it runs `ip`.
    pub fn new(prefix: &str) -> Result<Lan, NetemError> {
        static NEXT_SUBNET: AtomicU8 = AtomicU8::new(0);
        // Namespaces keep repeated subnets apart; distinct ones read better in `ip` output.
        let subnet = NEXT_SUBNET.fetch_add(1, Ordering::Relaxed) % 250 + 1;
        let addr_a = Ipv4Addr::new(10, 78, subnet, 1);
        let addr_b = Ipv4Addr::new(10, 78, subnet, 2);
        let a = Netns::unique(&format!("{prefix}-a"))?;
        let b = Netns::unique(&format!("{prefix}-b"))?;
        a.ip(&[
            "link",
            "add",
            DEVICE,
            "type",
            "veth",
            "peer",
            "name",
            DEVICE,
            "netns",
            b.name(),
        ])?;
        for (ns, addr) in [(&a, addr_a), (&b, addr_b)] {
            ns.ip(&["addr", "add", &format!("{addr}/24"), "dev", DEVICE])?;
            // No IPv6 link-local address: it would appear a second or two after the link
            // comes up, a network change to a browser started meanwhile, which then aborts
            // the page it loads (ERR_NETWORK_CHANGED).
            ns.ip(&["link", "set", DEVICE, "addrgenmode", "none"])?;
            ns.ip(&["link", "set", DEVICE, "up"])?;
        }
        Ok(Lan {
            a,
            b,
            addr_a,
            addr_b,
            hosts_files: Vec::new(),
        })
    }

    /// Makes `name` resolve to `addr` for programs started in B with [`Netns::command`]
    /// (`ip netns exec` mounts `/etc/netns/<ns>/hosts` over `/etc/hosts`). Threads that
    /// entered B share this process's `/etc/hosts`: they must connect by address.
    pub fn name_in_b(&mut self, name: &str, addr: Ipv4Addr) -> Result<(), NetemError> {
        let dir = PathBuf::from("/etc/netns").join(self.b.name());
        std::fs::create_dir_all(&dir)
            .map_err(|e| NetemError::io(format!("create {}", dir.display()), e))?;
        let path = dir.join("hosts");
        let mut hosts = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| "127.0.0.1 localhost\n::1 localhost\n".to_owned());
        hosts.push_str(&format!("{addr} {name}\n"));
        std::fs::write(&path, hosts)
            .map_err(|e| NetemError::io(format!("write {}", path.display()), e))?;
        if !self.hosts_files.contains(&dir) {
            self.hosts_files.push(dir);
        }
        Ok(())
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for dir in &self.hosts_files {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[ignore = "needs root: creates network namespaces"]
    fn b_reaches_a_and_resolves_the_names_it_was_given() {
        let mut lan = Lan::new("lan-test").expect("lan");
        lan.name_in_b("relay.lab.test", lan.addr_a).unwrap();
        let out = lan
            .b
            .command("getent")
            .args(["hosts", "relay.lab.test"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.starts_with(&lan.addr_a.to_string()), "{text}");

        let listener = lan
            .a
            .run(|| std::net::TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)))
            .unwrap()
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let addr_a = lan.addr_a;
        let connected = lan
            .b
            .run(move || std::net::TcpStream::connect((addr_a, port)).map(|_| ()))
            .unwrap();
        assert!(connected.is_ok(), "{connected:?}");
        let dir = PathBuf::from("/etc/netns").join(lan.b.name());
        drop(lan);
        assert!(!dir.exists());
    }
}
