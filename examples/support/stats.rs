//! Percentiles of latency samples and the line the benchmarks print for them.

/// The `q` quantile (0..=1) of sorted, non-empty `sorted` (nearest rank below).
pub fn quantile(sorted: &[u32], q: f64) -> u32 {
    sorted[((sorted.len() - 1) as f64 * q) as usize]
}

/// Microseconds as milliseconds.
pub fn ms(us: u32) -> f64 {
    us as f64 / 1000.0
}

/// Sorts `samples` (microseconds) and prints
/// `LABEL: p50 .. ms, p90 .. ms, p99 .. ms, max .. ms (N samples)`.
pub fn print_latency(label: &str, samples: &mut [u32]) {
    if samples.is_empty() {
        println!("{label}: no samples");
        return;
    }
    samples.sort_unstable();
    let at = |q: f64| ms(quantile(samples, q));
    println!(
        "{label}: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0),
        samples.len()
    );
}
