//! Failed sign-ins, counted per login and per address: each failure delays the next answer
//! a little more, and past a limit the login (or the address) is locked out for a while.
//! Pure: the caller passes the clock, so the policy is tested without waiting.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How failed sign-ins are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures of one login allowed within [`Self::lockout`] before it is locked out.
    pub login_failures: u32,
    /// Failures from one address allowed (more than a login's: offices share addresses).
    pub address_failures: u32,
    /// How long a lockout lasts, and how long a failure counts.
    pub lockout: Duration,
    /// The delay added to an answer per failure counted (at most one second).
    pub delay_step: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            login_failures: 5,
            address_failures: 30,
            lockout: Duration::from_secs(15 * 60),
            delay_step: Duration::from_millis(200),
        }
    }
}

/// Who is signing in: the login tried and the client's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The login, as typed (compared in lower case).
    pub login: String,
    /// The client's address, when known.
    pub address: Option<std::net::IpAddr>,
}

impl Attempt {
    fn keys(&self) -> Vec<Key> {
        let mut keys = vec![Key::Login(self.login.trim().to_lowercase())];
        if let Some(address) = self.address {
            keys.push(Key::Address(address));
        }
        keys
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Login(String),
    Address(std::net::IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// A refused attempt: locked out, and for how much longer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockedOut {
    /// Whether the login is locked (else the address is).
    pub login: bool,
    /// When to try again.
    pub retry_after: Duration,
}

/// The failed sign-ins of the server's life (forgotten on restart, and once they expire).
#[derive(Debug, Default)]
pub struct SignInThrottle {
    policy: ThrottlePolicy,
    failures: Mutex<HashMap<Key, Failures>>,
}

/// Past this many remembered keys, expired ones are swept on the next failure.
const SWEEP_ABOVE: usize = 10_000;

impl SignInThrottle {
    /// A throttle applying `policy`.
    pub fn new(policy: ThrottlePolicy) -> Self {
        Self {
            policy,
            failures: Mutex::default(),
        }
    }

    /// Before checking a password: refused while the login or the address is locked out;
    /// otherwise the delay to wait before answering (longer with each recent failure).
    pub fn admit(&self, attempt: &Attempt, now: Instant) -> Result<Duration, LockedOut> {
        let failures = self.lock();
        let mut counted = 0;
        for key in attempt.keys() {
            let Some(f) = failures.get(&key).filter(|f| self.live(f, now)) else {
                continue;
            };
            let limit = match key {
                Key::Login(_) => self.policy.login_failures,
                Key::Address(_) => self.policy.address_failures,
            };
            if f.count >= limit {
                return Err(LockedOut {
                    login: matches!(key, Key::Login(_)),
                    retry_after: self.policy.lockout.saturating_sub(now - f.last),
                });
            }
            counted = counted.max(f.count);
        }
        Ok((self.policy.delay_step * counted).min(Duration::from_secs(1)))
    }

    /// A wrong password (or unknown login): counts against both. Returns whether this
    /// failure locked the login out (worth a line in the log).
    pub fn failed(&self, attempt: &Attempt, now: Instant) -> bool {
        let mut failures = self.lock();
        if failures.len() > SWEEP_ABOVE {
            failures.retain(|_, f| now.duration_since(f.last) < self.policy.lockout);
        }
        let mut locked = false;
        for key in attempt.keys() {
            let entry = failures.entry(key.clone()).or_insert(Failures {
                count: 0,
                last: now,
            });
            if !self.live(entry, now) {
                entry.count = 0;
            }
            entry.count += 1;
            entry.last = now;
            if let Key::Login(_) = key {
                locked = entry.count == self.policy.login_failures;
            }
        }
        locked
    }

    /// A successful sign-in forgets the login's failures (not the address's).
    pub fn succeeded(&self, attempt: &Attempt) {
        let key = Key::Login(attempt.login.trim().to_lowercase());
        self.lock().remove(&key);
    }

    fn live(&self, failures: &Failures, now: Instant) -> bool {
        now.duration_since(failures.last) < self.policy.lockout
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Failures>> {
        // A panic while holding the map loses nothing worth refusing sign-ins for.
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(login: &str, address: &str) -> Attempt {
        Attempt {
            login: login.into(),
            address: Some(address.parse().unwrap()),
        }
    }

    #[test]
    fn failures_delay_then_lock_the_login_out_until_the_lockout_passes() {
        let throttle = SignInThrottle::new(ThrottlePolicy::default());
        let start = Instant::now();
        let ann = attempt("ann", "10.0.0.1");
        assert_eq!(throttle.admit(&ann, start), Ok(Duration::ZERO));
        for n in 1..=4 {
            assert!(!throttle.failed(&ann, start));
            assert_eq!(
                throttle.admit(&ann, start),
                Ok(Duration::from_millis(200 * n))
            );
        }
        assert!(throttle.failed(&ann, start), "the fifth failure locks");
        let later = start + Duration::from_secs(60);
        let refused = throttle.admit(&ann, later).unwrap_err();
        assert!(refused.login);
        assert_eq!(refused.retry_after, Duration::from_secs(14 * 60));
        // From another address, the login is still locked; another login from here is not.
        assert!(throttle.admit(&attempt("ANN", "10.0.0.2"), later).is_err());
        assert!(throttle.admit(&attempt("bob", "10.0.0.1"), later).is_ok());
        // Fifteen minutes after the last failure, it may try again.
        let after = start + Duration::from_secs(15 * 60);
        assert_eq!(throttle.admit(&ann, after), Ok(Duration::ZERO));
    }

    #[test]
    fn one_address_trying_many_logins_is_locked_out() {
        let throttle = SignInThrottle::new(ThrottlePolicy::default());
        let now = Instant::now();
        for n in 0..30 {
            throttle.failed(&attempt(&format!("user{n}"), "192.0.2.7"), now);
        }
        let refused = throttle
            .admit(&attempt("someone", "192.0.2.7"), now)
            .unwrap_err();
        assert!(!refused.login);
        assert!(throttle
            .admit(&attempt("someone", "192.0.2.8"), now)
            .is_ok());
    }

    #[test]
    fn a_success_forgets_the_logins_failures() {
        let throttle = SignInThrottle::new(ThrottlePolicy::default());
        let now = Instant::now();
        let ann = attempt("ann", "10.0.0.1");
        for _ in 0..4 {
            throttle.failed(&ann, now);
        }
        throttle.succeeded(&ann);
        throttle.failed(&ann, now);
        // The login starts again from one failure; the address keeps its five.
        let elsewhere = attempt("ann", "10.0.0.9");
        assert_eq!(
            throttle.admit(&elsewhere, now),
            Ok(Duration::from_millis(200))
        );
        assert_eq!(throttle.admit(&ann, now), Ok(Duration::from_secs(1)));
    }
}
