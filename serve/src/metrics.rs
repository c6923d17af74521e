//! Counters and gauges for `GET /metrics` (Prometheus text format 0.0.4).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Buckets of the event lateness histogram (seconds between an event's
/// time and its arrival).
const LATENESS_BUCKETS: [f64; 8] = [1.0, 5.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 86400.0];

#[derive(Default)]
struct Data {
    events_in: BTreeMap<String, u64>,
    rejected: BTreeMap<(String, String), u64>,
    outputs: BTreeMap<String, u64>,
    lateness_counts: [u64; LATENESS_BUCKETS.len()],
    lateness_sum: f64,
    lateness_n: u64,
    gauges: BTreeMap<String, f64>,
    sink_delivered: BTreeMap<String, u64>,
    sink_failed: BTreeMap<String, u64>,
    sink_dropped: BTreeMap<String, u64>,
    /// Extra text appended as is (the SL 651 server's counters).
    extra: Vec<Extra>,
}

/// Text in the Prometheus format that another part renders (the SL 651 counters).
pub type Extra = std::sync::Arc<dyn Fn() -> String + Send + Sync>;

/// The service's metrics.
#[derive(Default)]
pub struct Metrics {
    data: Mutex<Data>,
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    fn with<R>(&self, f: impl FnOnce(&mut Data) -> R) -> R {
        let mut g = self
            .data
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut g)
    }

    /// An event line arrived from `source`.
    pub fn event_in(&self, source: &str) {
        self.with(|d| *d.events_in.entry(source.to_string()).or_default() += 1);
    }

    /// A line from `source` was refused (`reason`: `not_json`, `event`, …).
    pub fn rejected(&self, source: &str, reason: &str) {
        self.with(|d| {
            *d.rejected
                .entry((source.to_string(), reason.to_string()))
                .or_default() += 1
        });
    }

    /// Seconds between an accepted event's time and its arrival.
    pub fn lateness(&self, secs: f64) {
        self.with(|d| {
            for (i, b) in LATENESS_BUCKETS.iter().enumerate() {
                if secs <= *b {
                    d.lateness_counts[i] += 1;
                }
            }
            d.lateness_sum += secs;
            d.lateness_n += 1;
        });
    }

    /// An output of type `kind` was produced.
    pub fn output(&self, kind: &str) {
        self.with(|d| *d.outputs.entry(kind.to_string()).or_default() += 1);
    }

    /// Sets a gauge (`yingji_open_plans`, …; labels written in the name).
    pub fn gauge(&self, name: &str, v: f64) {
        self.with(|d| {
            d.gauges.insert(name.to_string(), v);
        });
    }

    /// A sink delivered `n` records.
    pub fn delivered(&self, sink: &str, n: u64) {
        self.with(|d| *d.sink_delivered.entry(sink.to_string()).or_default() += n);
    }

    /// A sink's delivery attempt failed (it will be retried).
    pub fn failed(&self, sink: &str) {
        self.with(|d| *d.sink_failed.entry(sink.to_string()).or_default() += 1);
    }

    /// A sink's target refused a record for good (HTTP 4xx): logged, skipped.
    pub fn dropped(&self, sink: &str) {
        self.with(|d| *d.sink_dropped.entry(sink.to_string()).or_default() += 1);
    }

    /// Adds text rendered at each scrape (already in the Prometheus format).
    pub fn add_extra(&self, f: Extra) {
        self.with(|d| d.extra.push(f));
    }

    /// Events in from `source` so far.
    pub fn events_from(&self, source: &str) -> u64 {
        self.with(|d| d.events_in.get(source).copied().unwrap_or(0))
    }

    /// Lines refused from `source` for `reason` so far.
    pub fn rejected_from(&self, source: &str, reason: &str) -> u64 {
        self.with(|d| {
            d.rejected
                .get(&(source.to_string(), reason.to_string()))
                .copied()
                .unwrap_or(0)
        })
    }

    /// The Prometheus text.
    pub fn render(&self) -> String {
        self.with(|d| {
            let mut s = String::new();
            let _ = writeln!(
                s,
                "# HELP yingji_events_in_total Event lines received, by source.\n# TYPE yingji_events_in_total counter"
            );
            for (k, v) in &d.events_in {
                let _ = writeln!(s, "yingji_events_in_total{{source=\"{}\"}} {v}", label(k));
            }
            let _ = writeln!(
                s,
                "# HELP yingji_events_rejected_total Event lines refused, by source and reason.\n# TYPE yingji_events_rejected_total counter"
            );
            for ((k, r), v) in &d.rejected {
                let _ = writeln!(
                    s,
                    "yingji_events_rejected_total{{source=\"{}\",reason=\"{}\"}} {v}",
                    label(k),
                    label(r)
                );
            }
            let _ = writeln!(
                s,
                "# HELP yingji_event_lateness_seconds Arrival time minus event time of accepted events.\n# TYPE yingji_event_lateness_seconds histogram"
            );
            for (i, b) in LATENESS_BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "yingji_event_lateness_seconds_bucket{{le=\"{b}\"}} {}",
                    d.lateness_counts[i]
                );
            }
            let _ = writeln!(
                s,
                "yingji_event_lateness_seconds_bucket{{le=\"+Inf\"}} {}\nyingji_event_lateness_seconds_sum {}\nyingji_event_lateness_seconds_count {}",
                d.lateness_n, d.lateness_sum, d.lateness_n
            );
            let _ = writeln!(
                s,
                "# HELP yingji_outputs_total Outputs produced, by type.\n# TYPE yingji_outputs_total counter"
            );
            for (k, v) in &d.outputs {
                let _ = writeln!(s, "yingji_outputs_total{{type=\"{}\"}} {v}", label(k));
            }
            for (name, help, m) in [
                (
                    "yingji_sink_delivered_total",
                    "Records a sink delivered.",
                    &d.sink_delivered,
                ),
                (
                    "yingji_sink_failures_total",
                    "Failed delivery attempts (retried).",
                    &d.sink_failed,
                ),
                (
                    "yingji_sink_refused_total",
                    "Records a target refused for good (HTTP 4xx), skipped.",
                    &d.sink_dropped,
                ),
            ] {
                let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter");
                for (k, v) in m {
                    let _ = writeln!(s, "{name}{{sink=\"{}\"}} {v}", label(k));
                }
            }
            let mut last = "";
            for (k, v) in &d.gauges {
                let base = k.split('{').next().unwrap_or(k);
                if base != last {
                    let _ = writeln!(s, "# TYPE {base} gauge");
                    last = base;
                }
                let _ = writeln!(s, "{k} {v}");
            }
            for f in &d.extra {
                let l = f();
                s.push_str(&l);
                if !l.ends_with('\n') {
                    s.push('\n');
                }
            }
            s
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test")]
    use super::*;

    #[test]
    fn renders_counters_with_escaped_labels() {
        let m = Metrics::default();
        m.event_in("mqtt:a\"b");
        m.rejected("mqtt:a\"b", "not_json");
        m.output("level_changed");
        m.gauge("yingji_open_plans", 2.0);
        m.lateness(3.0);
        let t = m.render();
        assert!(
            t.contains("yingji_events_in_total{source=\"mqtt:a\\\"b\"} 1"),
            "{t}"
        );
        assert!(t.contains("reason=\"not_json\"} 1"), "{t}");
        assert!(t.contains("yingji_outputs_total{type=\"level_changed\"} 1"));
        assert!(t.contains("yingji_open_plans 2"));
        assert!(t.contains("yingji_event_lateness_seconds_bucket{le=\"5\"} 1"));
        assert!(t.contains("yingji_event_lateness_seconds_bucket{le=\"1\"} 0"));
    }
}
