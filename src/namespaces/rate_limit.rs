//! Per-socket event rate limit (governor's token bucket).
//!
//! Each socket may send `rate` events per second with bursts of `burst`;
//! excess events are refused with `rate_limited`. A socket that keeps sending
//! after being refused is flooding: refused events are themselves counted
//! against a second bucket of the same size, and when that one is empty too the
//! socket is disconnected. A client that slows down when told never is.

use std::num::NonZeroU32;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// The configured limit, shared by every socket of a namespace.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    quota: Quota,
}

impl RateLimit {
    pub fn new(per_second: u32, burst: u32) -> Self {
        let per_second = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(per_second).max(per_second);
        Self {
            quota: Quota::per_second(per_second).allow_burst(burst),
        }
    }

    /// A fresh pair of buckets for one socket.
    pub fn for_socket(&self) -> SocketLimiter {
        SocketLimiter {
            events: RateLimiter::direct(self.quota),
            refusals: RateLimiter::direct(self.quota),
        }
    }
}

/// What to do with one incoming event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Answer `rate_limited`.
    Refuse,
    /// Refuse and disconnect the socket.
    Flooding,
}

/// One socket's buckets.
pub struct SocketLimiter {
    events: DefaultDirectRateLimiter,
    refusals: DefaultDirectRateLimiter,
}

impl SocketLimiter {
    pub fn check(&self) -> Verdict {
        if self.events.check().is_ok() {
            Verdict::Allow
        } else if self.refusals.check().is_ok() {
            Verdict::Refuse
        } else {
            Verdict::Flooding
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_refusals_then_flooding() {
        let limiter = RateLimit::new(5, 10).for_socket();
        let verdicts: Vec<Verdict> = (0..25).map(|_| limiter.check()).collect();
        assert!(
            verdicts[..10].iter().all(|v| *v == Verdict::Allow),
            "{verdicts:?}"
        );
        assert!(
            verdicts[10..20].iter().all(|v| *v == Verdict::Refuse),
            "{verdicts:?}"
        );
        assert!(
            verdicts[20..].iter().all(|v| *v == Verdict::Flooding),
            "{verdicts:?}"
        );
    }
}
