//! Small measuring tools: latency distributions, peak memory, sizes.

use std::time::Duration;

/// A set of latencies.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Latencies {
    /// Every sample in nanoseconds, sorted.
    nanos: Vec<u64>,
}

impl Latencies {
    /// From samples, in any order.
    pub fn new(samples: impl IntoIterator<Item = Duration>) -> Latencies {
        let mut nanos: Vec<u64> = samples.into_iter().map(|d| d.as_nanos() as u64).collect();
        nanos.sort_unstable();
        Latencies { nanos }
    }

    /// The `q` quantile (0..=1), nearest rank.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.nanos.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((q * self.nanos.len() as f64).ceil() as usize).clamp(1, self.nanos.len());
        Duration::from_nanos(self.nanos[rank - 1])
    }

    /// Median.
    pub fn p50(&self) -> Duration {
        self.quantile(0.5)
    }

    /// 99th percentile.
    pub fn p99(&self) -> Duration {
        self.quantile(0.99)
    }

    /// Largest.
    pub fn max(&self) -> Duration {
        self.nanos.last().map_or(Duration::ZERO, |n| Duration::from_nanos(*n))
    }

    /// How many samples.
    pub fn len(&self) -> usize {
        self.nanos.len()
    }
}

/// This process's peak resident set (VmHWM), in bytes; 0 where /proc is
/// not there.
pub fn peak_rss() -> u64 {
    proc_status_kib("VmHWM:") * 1024
}

fn proc_status_kib(key: &str) -> u64 {
    kib(&std::fs::read_to_string("/proc/self/status").unwrap_or_default(), key)
}

fn kib(status: &str, key: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Bytes used by every file under `dir`.
pub fn dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// A duration for people: ns, µs, ms or s with three significant digits.
pub fn human(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.3} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.3} ms", ns / 1e6)
    } else {
        format!("{:.3} s", ns / 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let l = Latencies::new((1..=100).map(Duration::from_micros));
        assert_eq!(
            (l.p50(), l.p99(), l.max()),
            (Duration::from_micros(50), Duration::from_micros(99), Duration::from_micros(100))
        );
        assert_eq!(Latencies::default().p99(), Duration::ZERO);
    }
}
