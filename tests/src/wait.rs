//! Bounded polling for tests: the one `eventually`.

use std::future::Future;
use std::time::{Duration, Instant};

/// Runs `check` every `every` until it returns `Some`, giving up (`None`) once `limit` has
/// passed. `check` runs at least once.
pub async fn eventually<T, F, Fut>(limit: Duration, every: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(every).await;
    }
}
