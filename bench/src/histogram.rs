//! Latency histograms: one per client task, merged per run (HdrHistogram, microseconds).

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Largest latency recorded exactly; longer ones are clamped to it (and still counted).
const MAX_MICROS: u64 = 120_000_000;

/// Latencies of one client, or of a whole run after [`Latency::merge`].
#[derive(Clone, Debug)]
pub struct Latency(Histogram<u64>);

/// Percentiles of a run, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Operations recorded.
    pub count: u64,
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Slowest operation.
    pub max_ms: f64,
}

impl Default for Latency {
    fn default() -> Self {
        Latency::new()
    }
}

impl Latency {
    /// An empty histogram (1 µs to 120 s, 3 significant digits).
    pub fn new() -> Latency {
        Latency(Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds"))
    }

    /// Records one operation's latency.
    pub fn record(&mut self, latency: Duration) {
        let micros = (latency.as_micros() as u64).clamp(1, MAX_MICROS);
        // Cannot fail: the value is within the bounds.
        let _ = self.0.record(micros);
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Latency) {
        // Same bounds on both sides, so this cannot fail.
        let _ = self.0.add(&other.0);
    }

    /// Operations recorded.
    #[cfg(test)]
    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The latency at `quantile` (0..=1), in milliseconds.
    pub fn quantile_ms(&self, quantile: f64) -> f64 {
        self.0.value_at_quantile(quantile) as f64 / 1000.0
    }

    /// Count, mean and the percentiles the report shows.
    pub fn summary(&self) -> LatencySummary {
        if self.0.is_empty() {
            return LatencySummary::default();
        }
        LatencySummary {
            count: self.0.len(),
            mean_ms: self.0.mean() / 1000.0,
            p50_ms: self.quantile_ms(0.50),
            p90_ms: self.quantile_ms(0.90),
            p99_ms: self.quantile_ms(0.99),
            p999_ms: self.quantile_ms(0.999),
            max_ms: self.0.max() as f64 / 1000.0,
        }
    }

    /// The cumulative distribution as `(latency ms, fraction ≤ it)`, one point per distinct
    /// recorded value bucket (at most `max_points`, evenly thinned), ending at 1.0.
    pub fn cdf(&self, max_points: usize) -> Vec<(f64, f64)> {
        let total = self.0.len();
        if total == 0 {
            return Vec::new();
        }
        let mut points = Vec::new();
        let mut seen = 0u64;
        for v in self.0.iter_recorded() {
            seen += v.count_at_value();
            points.push((
                self.0.highest_equivalent(v.value_iterated_to()) as f64 / 1000.0,
                seen as f64 / total as f64,
            ));
        }
        if points.len() > max_points.max(2) {
            let step = points.len() as f64 / max_points as f64;
            let last = *points.last().expect("non-empty");
            let mut thinned: Vec<_> = (0..max_points)
                .map(|i| points[(i as f64 * step) as usize])
                .collect();
            if thinned.last() != Some(&last) {
                thinned.push(last);
            }
            points = thinned;
        }
        points
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn merging_gives_the_histogram_of_all_samples() {
        let mut a = Latency::new();
        let mut b = Latency::new();
        let mut all = Latency::new();
        for i in 1..=1000u64 {
            let d = ms(i);
            if i % 3 == 0 {
                a.record(d);
            } else {
                b.record(d);
            }
            all.record(d);
        }
        let mut merged = Latency::new();
        merged.merge(&a);
        merged.merge(&b);
        assert_eq!(merged.count(), 1000);
        assert_eq!(merged.summary(), all.summary());
        let s = merged.summary();
        // 3 significant digits: within 0.1%.
        assert!((s.p50_ms - 500.0).abs() <= 0.6, "{s:?}");
        assert!((s.p99_ms - 990.0).abs() <= 1.0, "{s:?}");
        assert!((s.max_ms - 1000.0).abs() <= 1.0, "{s:?}");
        assert!(s.p50_ms <= s.p90_ms && s.p90_ms <= s.p99_ms && s.p99_ms <= s.p999_ms);
    }

    #[test]
    fn merging_an_empty_histogram_changes_nothing() {
        let mut a = Latency::new();
        a.record(ms(5));
        let before = a.summary();
        a.merge(&Latency::new());
        assert_eq!(a.summary(), before);
        assert_eq!(Latency::new().summary(), LatencySummary::default());
    }

    #[test]
    fn extreme_latencies_are_clamped_not_lost() {
        let mut a = Latency::new();
        a.record(Duration::ZERO);
        a.record(Duration::from_secs(1000));
        assert_eq!(a.count(), 2);
        assert!(a.summary().max_ms >= 119_000.0);
    }

    #[test]
    fn cdf_is_monotone_and_ends_at_one() {
        let mut a = Latency::new();
        for i in 1..=10_000u64 {
            a.record(Duration::from_micros(i * 37 % 50_000 + 1));
        }
        let cdf = a.cdf(200);
        assert!(cdf.len() <= 201 && cdf.len() > 10);
        assert!(cdf.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
        assert_eq!(cdf.last().unwrap().1, 1.0);
    }
}
