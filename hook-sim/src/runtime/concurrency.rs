//! A function's concurrency limit, shared by its versions.

use std::sync::Arc;

/// A function's concurrency limit shared by its versions: Lambda's reserved concurrency
/// (`ReservedConcurrentExecutions`), or the account's default of 1,000.
#[derive(Debug, Clone)]
pub struct Concurrency {
    limit: usize,
    in_use: Arc<std::sync::atomic::AtomicUsize>,
}

impl Concurrency {
    /// The account's default: 1,000 environments at once.
    pub fn unreserved() -> Self {
        Self::reserved(1000)
    }

    /// At most `limit` environments of the function's versions run invocations at once; an
    /// invoke beyond that is throttled (`TooManyRequestsException`), as Lambda does.
    pub fn reserved(limit: usize) -> Self {
        Concurrency {
            limit,
            in_use: Arc::default(),
        }
    }

    pub(super) fn try_take(&self) -> bool {
        use std::sync::atomic::Ordering;
        self.in_use
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.limit).then_some(n + 1)
            })
            .is_ok()
    }

    pub(super) fn give_back(&self) {
        self.in_use.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

impl Default for Concurrency {
    fn default() -> Self {
        Self::unreserved()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reserved_limit_is_shared_by_its_clones_and_given_back() {
        let limit = Concurrency::reserved(2);
        let other_version = limit.clone();
        assert!(limit.try_take());
        assert!(other_version.try_take());
        // Both versions share the function's two: a third is throttled.
        assert!(!limit.try_take() && !other_version.try_take());
        other_version.give_back();
        assert!(limit.try_take());
        assert!(!other_version.try_take());
    }

    #[test]
    fn zero_reserved_throttles_everything_and_unreserved_is_the_accounts_default() {
        assert!(!Concurrency::reserved(0).try_take());
        let account = Concurrency::default();
        assert!((0..1000).all(|_| account.try_take()));
        assert!(!account.try_take());
    }
}
