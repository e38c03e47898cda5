//! Request rate limits, per route group: per API key, and per client address for requests that
//! present no valid key. Each limit is a token bucket holding a minute's allowance, refilled
//! evenly over the minute. The buckets live in this node's memory: with several nodes, a client
//! spreading its requests over them gets each node's allowance.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

/// The route groups, each limited on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    Native,
    Cake,
    Noojee,
    Ivvy,
}

/// One group's limits, in requests a minute; 0 is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupLimits {
    pub per_key_per_minute: u32,
    /// Requests without a valid key (none, unknown, expired, revoked) from one address.
    pub per_address_per_minute: u32,
}

impl Default for GroupLimits {
    /// Keys are not limited unless configured: one integration key often carries a whole call
    /// centre's traffic, and its right allowance is the operator's to know. Failed or missing
    /// keys are limited, which bounds key guessing and the database look-ups it costs.
    fn default() -> Self {
        GroupLimits { per_key_per_minute: 0, per_address_per_minute: 120 }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimits {
    pub native: GroupLimits,
    pub cake: GroupLimits,
    pub noojee: GroupLimits,
    pub ivvy: GroupLimits,
}

impl RateLimits {
    fn of(&self, group: Group) -> GroupLimits {
        match group {
            Group::Native => self.native,
            Group::Cake => self.cake,
            Group::Noojee => self.noojee,
            Group::Ivvy => self.ivvy,
        }
    }
}

/// A refusal: what was limited and when a request would be taken again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: Duration,
    pub per_minute: u32,
    /// "key" or "address".
    pub subject: &'static str,
}

impl Limited {
    /// Whole seconds for a `Retry-After` header, at least 1.
    pub fn retry_after_seconds(&self) -> u64 {
        self.retry_after.as_secs_f64().ceil().max(1.0) as u64
    }

    pub fn detail(&self) -> String {
        let whose = if self.subject == "key" { "this key" } else { "requests without a valid key from this address" };
        format!(
            "the rate limit of {} requests a minute for {whose} is reached; retry in {} s",
            self.per_minute,
            self.retry_after_seconds()
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Subject {
    Key(i64),
    Address(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Past this many buckets, full ones (a minute idle) are dropped, at most once a second; past
/// twice this, a new keyless client is refused until some are, so that a flood of addresses
/// cannot grow memory without bound.
const TRACKED: usize = 50_000;

#[derive(Debug)]
struct Buckets {
    by_subject: HashMap<(Group, Subject), Bucket>,
    pruned_at: Instant,
}

#[derive(Debug)]
pub struct RateLimiter {
    limits: RateLimits,
    buckets: Mutex<Buckets>,
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> RateLimiter {
        RateLimiter { limits, buckets: Mutex::new(Buckets { by_subject: HashMap::new(), pruned_at: Instant::now() }) }
    }

    /// Takes one request from the key's allowance; the operator (no key) is not limited.
    pub fn check_key(&self, group: Group, key_id: Option<i64>) -> Result<(), Limited> {
        match key_id {
            Some(id) => self.take(group, Subject::Key(id), "key"),
            None => Ok(()),
        }
    }

    /// Takes one keyless request from the address's allowance. An IPv6 client is counted by its
    /// /64 network, which one client usually holds whole. Without an address (a request made
    /// in-process, not over a socket) nothing is counted.
    pub fn check_address(&self, group: Group, address: Option<IpAddr>) -> Result<(), Limited> {
        let Some(address) = address else { return Ok(()) };
        let address = match address {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
            },
            v4 => v4,
        };
        self.take(group, Subject::Address(address), "address")
    }

    fn per_minute(&self, group: Group, subject: Subject) -> u32 {
        let limits = self.limits.of(group);
        match subject {
            Subject::Key(_) => limits.per_key_per_minute,
            Subject::Address(_) => limits.per_address_per_minute,
        }
    }

    fn take(&self, group: Group, subject: Subject, what: &'static str) -> Result<(), Limited> {
        let per_minute = self.per_minute(group, subject);
        if per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(per_minute);
        let per_second = capacity / 60.0;
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Buckets { by_subject, pruned_at } = &mut *buckets;
        if by_subject.len() >= TRACKED && !by_subject.contains_key(&(group, subject)) {
            if now.duration_since(*pruned_at) >= Duration::from_secs(1) {
                *pruned_at = now;
                by_subject.retain(|&(group, subject), bucket| {
                    let capacity = f64::from(self.per_minute(group, subject));
                    bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * capacity / 60.0 < capacity
                });
            }
            if by_subject.len() >= 2 * TRACKED && matches!(subject, Subject::Address(_)) {
                return Err(Limited { retry_after: Duration::from_secs(60), per_minute, subject: what });
            }
        }
        let bucket = by_subject.entry((group, subject)).or_insert(Bucket { tokens: capacity, at: now });
        bucket.tokens = (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * per_second).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let retry_after = Duration::from_secs_f64((1.0 - bucket.tokens) / per_second);
            Err(Limited { retry_after, per_minute, subject: what })
        }
    }
}

/// The client's address, when the request came over a socket.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(ClientAddr(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_key: u32, per_address: u32) -> RateLimiter {
        let limits = GroupLimits { per_key_per_minute: per_key, per_address_per_minute: per_address };
        RateLimiter::new(RateLimits { native: limits, cake: limits, ..RateLimits::default() })
    }

    #[test]
    fn a_key_gets_its_minute_then_waits_for_the_next_token() {
        let limiter = limiter(3, 0);
        for _ in 0..3 {
            limiter.check_key(Group::Native, Some(7)).unwrap();
        }
        let limited = limiter.check_key(Group::Native, Some(7)).unwrap_err();
        assert_eq!((limited.subject, limited.per_minute), ("key", 3));
        assert!((19..=20).contains(&limited.retry_after_seconds()), "{limited:?}");
        limiter.check_key(Group::Native, Some(8)).expect("another key has its own allowance");
        limiter.check_key(Group::Cake, Some(7)).expect("another group has its own allowance");
        limiter.check_key(Group::Native, None).expect("the operator is not limited");
    }

    #[test]
    fn addresses_are_counted_alone_and_ipv6_by_its_64_network() {
        let limiter = limiter(0, 1);
        let v6 = |text: &str| Some(text.parse::<IpAddr>().unwrap());
        limiter.check_address(Group::Native, v6("2001:db8::1")).unwrap();
        assert!(limiter.check_address(Group::Native, v6("2001:db8::2")).is_err(), "same /64");
        limiter.check_address(Group::Native, v6("2001:db8:0:1::1")).expect("another /64");
        limiter.check_address(Group::Native, v6("127.0.0.1")).unwrap();
        assert!(limiter.check_address(Group::Native, v6("::ffff:127.0.0.1")).is_err(), "the same IPv4 client");
        limiter.check_address(Group::Native, None).expect("in-process requests are not counted");
        limiter.check_key(Group::Native, Some(1)).expect("keys are not limited when set to 0");
    }

    #[test]
    fn a_flood_of_addresses_is_bounded_but_keys_still_pass() {
        let limiter = limiter(5, 5);
        for n in 0..(2 * TRACKED as u32) {
            limiter.check_address(Group::Native, Some(IpAddr::V4(n.into()))).unwrap();
        }
        let refused = limiter.check_address(Group::Native, Some("203.0.113.1".parse().unwrap())).unwrap_err();
        assert_eq!(refused.subject, "address");
        limiter.check_key(Group::Native, Some(1)).expect("a key is always tracked");
        limiter
            .check_address(Group::Native, Some(IpAddr::V4(7u32.into())))
            .expect("a tracked address keeps its bucket");
    }
}
