//! An emulated link: namespaces A and B, each with a TUN device `netem0` addressed in one
//! /24, joined by the forwarder.

use std::{
    net::Ipv4Addr,
    sync::atomic::{AtomicU8, Ordering},
};

use super::{
    NetemError, RuntimeThread, config::LinkConfig, control::LinkControl, forwarder, netns::Netns,
    tun::Tun,
};

/// The TUN device's name inside each namespace; namespaces keep same-named devices apart.
pub const TUN_NAME: &str = "netem0";
const MTU: &str = "1500";
/// Longer than the default 500 so a burst of datagrams waits for the forwarder instead of
/// being dropped by the kernel before the emulator sees it.
const TX_QUEUE_LEN: &str = "4096";

/// Two namespaces joined by an impaired link. Dropping it stops forwarding and deletes both
/// namespaces (runtimes and sockets inside keep working but can no longer reach the peer).
#[derive(Debug)]
pub struct EmulatedLink {
    // Held only to be dropped, and declared first so forwarding stops before the namespaces go.
    _forwarder: RuntimeThread,
    control: LinkControl,
    a: Netns,
    b: Netns,
    addr_a: Ipv4Addr,
    addr_b: Ipv4Addr,
}

impl EmulatedLink {
    /// Sets up a link with random loss decisions.
    pub fn new(config: LinkConfig) -> Result<Self, NetemError> {
        Self::with_seed(config, rand::random())
    }

    /// Sets up a link whose loss and jitter decisions follow `seed`. Blocks while it runs `ip`.
    pub fn with_seed(config: LinkConfig, seed: u64) -> Result<Self, NetemError> {
        if let Some(reason) = super::unavailable_reason() {
            return Err(NetemError::Unavailable(reason));
        }
        static NEXT_SUBNET: AtomicU8 = AtomicU8::new(0);
        // Each pair lives in its own namespaces, so subnets may repeat; distinct ones only
        // make `ip` output easier to tell apart.
        let subnet = NEXT_SUBNET.fetch_add(1, Ordering::Relaxed) % 250 + 1;
        let addr_a = Ipv4Addr::new(10, 77, subnet, 1);
        let addr_b = Ipv4Addr::new(10, 77, subnet, 2);
        let a = Netns::unique("sh-a")?;
        let b = Netns::unique("sh-b")?;
        let tun_a = attach(&a, addr_a)?;
        let tun_b = attach(&b, addr_b)?;
        let control = LinkControl::new(config);
        let forwarder = forwarder::spawn(tun_a, tun_b, control.clone(), seed)?;
        Ok(Self {
            _forwarder: forwarder,
            control,
            a,
            b,
            addr_a,
            addr_b,
        })
    }

    pub fn a(&self) -> &Netns {
        &self.a
    }

    pub fn b(&self) -> &Netns {
        &self.b
    }

    /// Namespace A's address on the link.
    pub fn addr_a(&self) -> Ipv4Addr {
        self.addr_a
    }

    /// Namespace B's address on the link.
    pub fn addr_b(&self) -> Ipv4Addr {
        self.addr_b
    }

    pub fn control(&self) -> &LinkControl {
        &self.control
    }
}

fn attach(ns: &Netns, addr: Ipv4Addr) -> Result<Tun, NetemError> {
    let tun = ns.run(|| {
        let tun = Tun::create(TUN_NAME)?;
        // IPv6 would send router solicitations and MLD reports over the link; tests count
        // packets, so keep it quiet. Best effort: the kernel may lack IPv6 altogether.
        let _ = std::fs::write(
            format!("/proc/sys/net/ipv6/conf/{TUN_NAME}/disable_ipv6"),
            "1",
        );
        Ok::<_, NetemError>(tun)
    })??;
    ns.ip(&["addr", "add", &format!("{addr}/24"), "dev", TUN_NAME])?;
    ns.ip(&[
        "link",
        "set",
        TUN_NAME,
        "mtu",
        MTU,
        "txqueuelen",
        TX_QUEUE_LEN,
        "up",
    ])?;
    Ok(tun)
}
