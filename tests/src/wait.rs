//! Waiting for a condition in a test, the one way: poll it until it holds
//! or a generous deadline passes, then fail naming what never happened.
//! Rationale: a loaded CI machine makes every fixed sleep flaky; a
//! deadline only bounds how long a broken build takes to say so.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often a condition is asked again.
const POLL: Duration = Duration::from_millis(20);

/// Polls `condition` until it gives `Some(value)`, and returns the value;
/// panics with "`what` did not happen within `timeout`" otherwise.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut condition: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = condition().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{what} did not happen within {timeout:?}");
        tokio::time::sleep(POLL).await;
    }
}

/// [`eventually`] for a test without a runtime (a condition on processes
/// or files).
pub fn eventually_blocking<T>(timeout: Duration, what: &str, mut condition: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = condition() {
            return value;
        }
        assert!(Instant::now() < deadline, "{what} did not happen within {timeout:?}");
        std::thread::sleep(POLL);
    }
}
