//! Login rate limits, per client IP and per account, so neither one address
//! nor a botnet aimed at one account can guess passwords quickly.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("too many login attempts; retry in {retry_after_secs} s")]
pub struct RateLimitError {
    pub retry_after_secs: u64,
}

#[derive(Clone)]
pub struct LoginLimiter {
    per_ip: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    per_account: Arc<DefaultKeyedRateLimiter<String>>,
}

impl LoginLimiter {
    pub fn new(per_ip_per_minute: u32, per_account_per_minute: u32) -> Self {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        LoginLimiter {
            per_ip: Arc::new(RateLimiter::keyed(quota(per_ip_per_minute))),
            per_account: Arc::new(RateLimiter::keyed(quota(per_account_per_minute))),
        }
    }

    /// Counts one attempt from `ip` on `account`; refuses when either budget is spent.
    pub fn check(&self, ip: IpAddr, account: &str) -> Result<(), RateLimitError> {
        let clock = DefaultClock::default();
        let wait = |not_until: governor::NotUntil<_>| RateLimitError {
            retry_after_secs: not_until.wait_time_from(clock.now()).as_secs().max(1),
        };
        self.per_ip.check_key(&ip).map_err(wait)?;
        self.per_account.check_key(&account.to_string()).map_err(wait)?;
        Ok(())
    }

    /// Forgets keys whose budget has fully refilled; called periodically.
    pub fn forget_idle(&self) {
        self.per_ip.retain_recent();
        self.per_account.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_budget_is_shared_across_addresses() {
        let limiter = LoginLimiter::new(100, 2);
        let a = IpAddr::from([10, 0, 0, 1]);
        let b = IpAddr::from([10, 0, 0, 2]);
        assert!(limiter.check(a, "ann@example.com").is_ok());
        assert!(limiter.check(b, "ann@example.com").is_ok());
        let refused = limiter.check(a, "ann@example.com").unwrap_err();
        assert!(refused.retry_after_secs >= 1);
        assert!(limiter.check(a, "bob@example.com").is_ok());
    }

    #[test]
    fn the_address_budget_is_shared_across_accounts() {
        let limiter = LoginLimiter::new(2, 100);
        let a = IpAddr::from([10, 0, 0, 1]);
        assert!(limiter.check(a, "one@example.com").is_ok());
        assert!(limiter.check(a, "two@example.com").is_ok());
        assert!(limiter.check(a, "three@example.com").is_err());
        assert!(limiter.check(IpAddr::from([10, 0, 0, 2]), "three@example.com").is_ok());
    }
}
