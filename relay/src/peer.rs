//! Who per-address limits count: an IPv4 address, or an IPv6 /64. One subscriber gets a
//! whole /64 (and can pick any address in it), so counting single IPv6 addresses would
//! bound nothing. IPv4-mapped IPv6 addresses count as the IPv4 address they carry.

use std::net::{IpAddr, Ipv6Addr};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Peer(IpAddr);

impl From<IpAddr> for Peer {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Peer(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Peer(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    Peer(IpAddr::V6(Ipv6Addr::from(prefix)))
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(Peer::from(a), Peer::from(b));
        assert_ne!(Peer::from(a), Peer::from(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(Peer::from(mapped), Peer::from(v4));
        assert_ne!(
            Peer::from(v4),
            Peer::from("192.0.2.8".parse::<IpAddr>().unwrap())
        );
    }
}
