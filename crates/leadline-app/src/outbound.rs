//! Outbound HTTP to URLs that come from data (a disposition's webhook today, a buyer's delivery
//! URL next): which addresses such a call may reach, and an HTTP client that holds to it.
//!
//! A URL an admin (or a template filled from a lead) writes must not become a way into the
//! network Leadline runs in: the cloud's metadata service at 169.254.169.254, a database on
//! 10.0.0.5, the server's own admin ports on 127.0.0.1. So internal addresses are refused unless
//! the operator allows their range. The check is made on the addresses a name resolves to, in the
//! client's own resolver, so the address checked is the address connected to: a name cannot
//! answer with a public address for the check and 127.0.0.1 for the connection. Redirects are not
//! followed (a public receiver could otherwise send the call on to an internal one), and no proxy
//! from the environment is used (the proxy, not this resolver, would then choose the address).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

/// A range of addresses: a network address and the length of its prefix in bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressRange {
    network: IpAddr,
    prefix: u8,
}

impl AddressRange {
    const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> AddressRange {
        AddressRange { network: IpAddr::V4(Ipv4Addr::new(a, b, c, d)), prefix }
    }

    const fn v6(segments: [u16; 8], prefix: u8) -> AddressRange {
        let [a, b, c, d, e, f, g, h] = segments;
        AddressRange { network: IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h)), prefix }
    }

    /// Reads `10.0.0.0/8`, `fd00::/8`, or one address (`192.168.1.20`, `::1`).
    pub fn parse(text: &str) -> Result<AddressRange, String> {
        let wrong = || format!("`{text}` is not an IP address or a CIDR range such as 10.0.0.0/8");
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.trim(), None),
        };
        let network: IpAddr = address.parse().map_err(|_| wrong())?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= bits).ok_or_else(wrong)?,
            None => bits,
        };
        let range = AddressRange { network, prefix };
        if range.masked(network) != network {
            return Err(format!("`{text}` has bits set past its /{prefix} prefix; write the network address"));
        }
        Ok(range)
    }

    /// `address` with the bits past this range's prefix cleared.
    fn masked(&self, address: IpAddr) -> IpAddr {
        match address {
            IpAddr::V4(a) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
            }
        }
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        address.is_ipv4() == self.network.is_ipv4() && self.masked(address) == self.network
    }
}

impl std::fmt::Display for AddressRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Ranges that are not the public internet, and what each is.
const INTERNAL: &[(AddressRange, &str)] = &[
    (AddressRange::v4(0, 0, 0, 0, 8), "unspecified (this network)"),
    (AddressRange::v4(10, 0, 0, 0, 8), "private"),
    (AddressRange::v4(100, 64, 0, 0, 10), "carrier-grade NAT"),
    (AddressRange::v4(127, 0, 0, 0, 8), "loopback"),
    (AddressRange::v4(169, 254, 0, 0, 16), "link-local"),
    (AddressRange::v4(172, 16, 0, 0, 12), "private"),
    (AddressRange::v4(192, 168, 0, 0, 16), "private"),
    (AddressRange::v4(224, 0, 0, 0, 4), "multicast"),
    (AddressRange::v4(240, 0, 0, 0, 4), "reserved (and broadcast)"),
    (AddressRange::v6([0, 0, 0, 0, 0, 0, 0, 0], 128), "unspecified"),
    (AddressRange::v6([0, 0, 0, 0, 0, 0, 0, 1], 128), "loopback"),
    (AddressRange::v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), "unique local (private)"),
    (AddressRange::v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), "link-local"),
    (AddressRange::v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), "site-local (private)"),
    (AddressRange::v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), "multicast"),
];

/// The IPv4 address inside an IPv6 one that stands for it (`::ffff:a.b.c.d`, the NAT64 prefix
/// `64:ff9b::a.b.c.d`, the old `::a.b.c.d`), so that such a form is judged as that IPv4 address.
fn embedded_v4(address: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = address.to_ipv4_mapped() {
        return Some(v4);
    }
    let segments = address.segments();
    let low = Ipv4Addr::new((segments[6] >> 8) as u8, segments[6] as u8, (segments[7] >> 8) as u8, segments[7] as u8);
    let nat64 = segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    let compatible = segments[..6] == [0; 6] && u32::from(low) > 1; // :: and ::1 are their own
    (nat64 || compatible).then_some(low)
}

/// What kind of internal address `address` is, or None for a public one.
pub fn internal_kind(address: IpAddr) -> Option<&'static str> {
    let address = canonical(address);
    INTERNAL.iter().find(|(range, _)| range.contains(address)).map(|(_, kind)| *kind)
}

/// The address judged: an IPv6 form of an IPv4 address becomes that IPv4 address.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => embedded_v4(v6).map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

/// Why an outbound call was refused before it was made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the URL is not an http:// or https:// URL with a host")]
    NotHttp,
    #[error("{address} is a {kind} address; allow its range in outbound_allow_private to deliver there")]
    Internal { address: IpAddr, kind: &'static str },
    #[error("{host} resolves only to internal addresses ({address} is {kind}); allow its range in outbound_allow_private to deliver there")]
    InternalName { host: String, address: IpAddr, kind: &'static str },
}

/// Which addresses an outbound call may reach: every public address, and the internal ranges
/// the operator allowed (`outbound_allow_private`), for receivers on the same network.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    allowed: Vec<AddressRange>,
}

impl OutboundPolicy {
    /// The policy that also allows `ranges` (each an address or a CIDR range); the error names
    /// the entry that is not one.
    pub fn allowing<S: AsRef<str>>(ranges: &[S]) -> Result<OutboundPolicy, String> {
        let allowed = ranges.iter().map(|r| AddressRange::parse(r.as_ref())).collect::<Result<_, _>>()?;
        Ok(OutboundPolicy { allowed })
    }

    /// Whether a call may connect to `address`.
    pub fn check(&self, address: IpAddr) -> Result<(), Refusal> {
        let address = canonical(address);
        match internal_kind(address) {
            Some(kind) if !self.allowed.iter().any(|range| range.contains(address)) => {
                Err(Refusal::Internal { address, kind })
            }
            _ => Ok(()),
        }
    }

    /// Checks what can be checked before connecting: the scheme, and the host when it is an
    /// address written out (a client connects to those without asking a resolver). A host name
    /// is checked by the client's resolver, on the addresses it is about to connect to.
    pub fn check_url(&self, url: &Url) -> Result<(), Refusal> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refusal::NotHttp);
        }
        // The URL parser has already turned every spelling of an IPv4 address (`2130706433`,
        // `0x7f.1`) into the dotted one, and writes an IPv6 address in brackets.
        let host = url.host_str().filter(|host| !host.is_empty()).ok_or(Refusal::NotHttp)?;
        let written = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) => v6.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
            None => host.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
        };
        written.map_or(Ok(()), |address| self.check(address))
    }

    /// An HTTP client builder that holds to this policy: names resolve only to permitted
    /// addresses, redirects are answered as they are (not followed), and no proxy is used. The
    /// caller adds its timeout and user agent. Every request must also pass [`check_url`]
    /// first, for hosts written as addresses.
    ///
    /// [`check_url`]: OutboundPolicy::check_url
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .dns_resolver(Arc::new(PolicyResolver { policy: self.clone() }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
    }
}

/// The system resolver, keeping only the addresses the policy permits.
struct PolicyResolver {
    policy: OutboundPolicy,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let permitted: Vec<SocketAddr> = found
                .into_iter()
                .filter(|socket| match policy.check(socket.ip()) {
                    Ok(()) => true,
                    Err(refusal) => {
                        refused.get_or_insert(refusal);
                        false
                    }
                })
                .collect();
            match refused {
                Some(Refusal::Internal { address, kind }) if permitted.is_empty() => {
                    Err(Box::new(Refusal::InternalName { host, address, kind }) as Box<_>)
                }
                _ => Ok(Box::new(permitted.into_iter()) as Addrs),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(policy: &OutboundPolicy, address: &str) -> bool {
        policy.check(address.parse().unwrap()).is_err()
    }

    #[test]
    fn internal_addresses_are_refused_and_public_ones_are_not() {
        let policy = OutboundPolicy::default();
        for address in [
            "127.0.0.1",
            "127.5.6.7",
            "0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fe80::1",
            "febf::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            // IPv4 in IPv6 clothing.
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "::127.0.0.1",
        ] {
            assert!(refused(&policy, address), "{address} should be refused");
        }
        for address in [
            "93.184.216.34",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(!refused(&policy, address), "{address} is public");
        }
    }

    #[test]
    fn the_operator_allows_ranges_and_single_addresses_in_either_form() {
        let policy = OutboundPolicy::allowing(&["10.0.0.0/8", "127.0.0.1", "fd00::/8"]).unwrap();
        assert!(!refused(&policy, "10.20.30.40"));
        assert!(!refused(&policy, "127.0.0.1"));
        assert!(!refused(&policy, "::ffff:127.0.0.1"), "the mapped form of an allowed address");
        assert!(!refused(&policy, "fd00::5"));
        assert!(refused(&policy, "127.0.0.2"));
        assert!(refused(&policy, "192.168.0.1"));
        assert!(refused(&policy, "169.254.169.254"));
    }

    #[test]
    fn a_range_that_is_not_one_is_named_in_the_error() {
        for (text, says) in [
            ("10.0.0.0/33", "not an IP address or a CIDR range"),
            ("localhost", "not an IP address or a CIDR range"),
            ("10.0.0.1/8", "bits set past its /8 prefix"),
            ("::1/129", "not an IP address or a CIDR range"),
        ] {
            let error = OutboundPolicy::allowing(&[text]).unwrap_err();
            assert!(error.contains(text) && error.contains(says), "{text}: {error}");
        }
    }

    #[test]
    fn addresses_written_in_a_url_are_checked_in_every_spelling() {
        let policy = OutboundPolicy::default();
        for url in [
            "http://127.0.0.1:8080/hook",
            "http://[::1]/hook",
            "http://[::ffff:7f00:1]/hook",
            "http://2130706433/hook",
            "http://0x7f.1/hook",
            "http://169.254.169.254/latest/meta-data/",
        ] {
            let parsed = Url::parse(url).unwrap();
            assert!(matches!(policy.check_url(&parsed), Err(Refusal::Internal { .. })), "{url}");
        }
        assert_eq!(policy.check_url(&Url::parse("ftp://example.com/").unwrap()), Err(Refusal::NotHttp));
        assert_eq!(policy.check_url(&Url::parse("https://example.com/hook").unwrap()), Ok(()));
    }
}
