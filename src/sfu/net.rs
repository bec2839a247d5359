//! The addresses we advertise as ICE host candidates, all on the one UDP port:
//! 127.0.0.1 (same-machine clients, tests) and every non-loopback IPv4 interface
//! address (aiortc and browsers gather on interface addresses, not loopback).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Host candidate addresses for a socket bound to `bind` on `port`. A socket bound to a
/// specific address advertises just that address.
pub fn host_candidate_addrs(bind: IpAddr, port: u16) -> Vec<SocketAddr> {
    if !bind.is_unspecified() {
        return vec![SocketAddr::new(bind, port)];
    }
    let mut ips: Vec<IpAddr> = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
    if let Ok(interfaces) = if_addrs::get_if_addrs() {
        for iface in interfaces {
            let ip = iface.ip();
            if ip.is_ipv4() && !ip.is_loopback() && !ip.is_unspecified() && !ips.contains(&ip) {
                ips.push(ip);
            }
        }
    }
    ips.into_iter().map(|ip| SocketAddr::new(ip, port)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_bind_advertises_loopback_first_and_only_ipv4() {
        let addrs = host_candidate_addrs(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 7882);
        assert_eq!(addrs[0], "127.0.0.1:7882".parse().unwrap());
        assert!(addrs.iter().all(|a| a.is_ipv4() && a.port() == 7882));
    }

    #[test]
    fn a_specific_bind_advertises_itself() {
        let addrs = host_candidate_addrs("10.1.2.3".parse().unwrap(), 9);
        assert_eq!(addrs, vec!["10.1.2.3:9".parse().unwrap()]);
    }
}
