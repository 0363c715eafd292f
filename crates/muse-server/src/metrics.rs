//! Prometheus text exposition, written by hand: request and error counts per route, latency
//! histograms, queue depth, generated tokens and the decode speed of the latest generation.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the latency buckets, seconds.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, v: f64) {
        for (c, &b) in self.counts.iter_mut().zip(&BUCKETS) {
            if v <= b {
                *c += 1;
            }
        }
        self.count += 1;
        self.sum += v;
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        for (c, b) in self.counts.iter().zip(&BUCKETS) {
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{b}\"}} {c}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

#[derive(Debug, Default)]
struct Routes {
    requests: BTreeMap<(String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
}

/// Counters shared by all requests.
#[derive(Debug, Default)]
pub struct Metrics {
    routes: Mutex<Routes>,
    ttft: Mutex<Histogram>,
    generated_tokens: AtomicU64,
    /// f64 bits of the latest generation's decode tokens/s.
    last_tokens_per_s: AtomicU64,
}

impl Metrics {
    /// One finished request.
    pub fn record_request(&self, route: &str, status: u16, seconds: f64) {
        if let Ok(mut r) = self.routes.lock() {
            *r.requests.entry((route.to_string(), status)).or_default() += 1;
            r.latency
                .entry(route.to_string())
                .or_default()
                .observe(seconds);
        }
    }

    /// Time to the first generated text of a request.
    pub fn record_ttft(&self, seconds: f64) {
        if let Ok(mut h) = self.ttft.lock() {
            h.observe(seconds);
        }
    }

    /// A finished generation: tokens over its decode time.
    pub fn record_generation(&self, tokens: usize, decode_seconds: f64) {
        self.generated_tokens
            .fetch_add(tokens as u64, Ordering::Relaxed);
        if decode_seconds > 0.0 && tokens > 0 {
            let rate = tokens as f64 / decode_seconds;
            self.last_tokens_per_s
                .store(rate.to_bits(), Ordering::Relaxed);
        }
    }

    /// The exposition text.
    pub fn render(&self, queue_depth: usize) -> String {
        let mut out = String::new();
        out.push_str("# HELP muse_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE muse_requests_total counter\n");
        let routes = self
            .routes
            .lock()
            .map(|r| (r.requests.clone(), r.latency.clone()));
        let (requests, latency) = routes.unwrap_or_default();
        let mut errors: BTreeMap<&str, u64> = BTreeMap::new();
        for ((route, status), n) in &requests {
            let _ = writeln!(
                out,
                "muse_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
            if *status >= 400 {
                *errors.entry(route).or_default() += n;
            }
        }
        out.push_str("# HELP muse_errors_total HTTP requests answered with a 4xx or 5xx status.\n");
        out.push_str("# TYPE muse_errors_total counter\n");
        for (route, n) in &errors {
            let _ = writeln!(out, "muse_errors_total{{route=\"{route}\"}} {n}");
        }
        out.push_str("# HELP muse_request_duration_seconds Time until the response started (a stream counts to its first event).\n");
        out.push_str("# TYPE muse_request_duration_seconds histogram\n");
        for (route, h) in &latency {
            h.write(
                &mut out,
                "muse_request_duration_seconds",
                &format!("route=\"{route}\""),
            );
        }
        out.push_str(
            "# HELP muse_time_to_first_token_seconds Time from request to first generated text.\n",
        );
        out.push_str("# TYPE muse_time_to_first_token_seconds histogram\n");
        if let Ok(h) = self.ttft.lock() {
            h.write(
                &mut out,
                "muse_time_to_first_token_seconds",
                "model=\"all\"",
            );
        }
        out.push_str("# HELP muse_queue_depth Requests waiting for the model worker.\n");
        out.push_str("# TYPE muse_queue_depth gauge\n");
        let _ = writeln!(out, "muse_queue_depth {queue_depth}");
        out.push_str("# HELP muse_generated_tokens_total Tokens generated.\n");
        out.push_str("# TYPE muse_generated_tokens_total counter\n");
        let _ = writeln!(
            out,
            "muse_generated_tokens_total {}",
            self.generated_tokens.load(Ordering::Relaxed)
        );
        out.push_str(
            "# HELP muse_decode_tokens_per_second Decode speed of the latest generation.\n",
        );
        out.push_str("# TYPE muse_decode_tokens_per_second gauge\n");
        let _ = writeln!(
            out,
            "muse_decode_tokens_per_second {}",
            f64::from_bits(self.last_tokens_per_s.load(Ordering::Relaxed))
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_requests_errors_and_buckets() {
        let m = Metrics::default();
        m.record_request("/v1/models", 200, 0.002);
        m.record_request("/v1/models", 404, 0.3);
        let text = m.render(3);
        assert!(text.contains("muse_requests_total{route=\"/v1/models\",status=\"200\"} 1"));
        assert!(text.contains("muse_errors_total{route=\"/v1/models\"} 1"));
        assert!(
            text.contains(
                "muse_request_duration_seconds_bucket{route=\"/v1/models\",le=\"0.005\"} 1"
            )
        );
        assert!(
            text.contains(
                "muse_request_duration_seconds_bucket{route=\"/v1/models\",le=\"0.5\"} 2"
            )
        );
        assert!(text.contains("muse_queue_depth 3"));
    }
}
