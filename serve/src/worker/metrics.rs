//! The worker's counters, as Prometheus text on `--metrics ADDR`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters and per-partition gauges.
#[derive(Default)]
pub struct Metrics {
    events: AtomicU64,
    outputs: AtomicU64,
    dead: AtomicU64,
    fenced: AtomicU64,
    checkpoints: AtomicU64,
    /// partition → (snapshot bytes, checkpoint ms, values)
    partitions: Mutex<BTreeMap<u32, (u64, f64, usize)>>,
}

impl Metrics {
    /// One input event applied.
    pub fn event(&self) {
        self.events.fetch_add(1, Ordering::Relaxed);
    }
    /// One output published.
    pub fn output(&self) {
        self.outputs.fetch_add(1, Ordering::Relaxed);
    }
    /// One dead letter.
    pub fn dead(&self) {
        self.dead.fetch_add(1, Ordering::Relaxed);
    }
    /// One fenced write.
    pub fn fenced(&self) {
        self.fenced.fetch_add(1, Ordering::Relaxed);
    }
    /// A checkpoint of partition `p`.
    pub fn checkpoint(&self, p: u32, bytes: u64, ms: f64, values: usize) {
        self.checkpoints.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut m) = self.partitions.lock() {
            m.insert(p, (bytes, ms, values));
        }
    }
    /// Partition `p` is no longer owned here.
    pub fn forget(&self, p: u32) {
        if let Ok(mut m) = self.partitions.lock() {
            m.remove(&p);
        }
    }

    /// The Prometheus text exposition.
    pub fn prometheus(&self, worker: &str, owned: usize) -> String {
        let mut s = String::new();
        let w = worker.replace('"', "");
        for (name, help, v) in [
            (
                "yingji_worker_events_total",
                "input events applied",
                &self.events,
            ),
            (
                "yingji_worker_outputs_total",
                "outputs published",
                &self.outputs,
            ),
            (
                "yingji_worker_dead_letters_total",
                "input messages dead-lettered",
                &self.dead,
            ),
            (
                "yingji_worker_fenced_total",
                "writes refused as a stale owner's",
                &self.fenced,
            ),
            (
                "yingji_worker_checkpoints_total",
                "checkpoints written",
                &self.checkpoints,
            ),
        ] {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter");
            let _ = writeln!(s, "{name}{{worker=\"{w}\"}} {}", v.load(Ordering::Relaxed));
        }
        let _ = writeln!(
            s,
            "# HELP yingji_worker_partitions partitions owned\n# TYPE yingji_worker_partitions gauge\nyingji_worker_partitions{{worker=\"{w}\"}} {owned}"
        );
        if let Ok(m) = self.partitions.lock() {
            let _ = writeln!(
                s,
                "# HELP yingji_worker_snapshot_bytes last checkpoint size per partition\n# TYPE yingji_worker_snapshot_bytes gauge"
            );
            for (p, (b, _, _)) in m.iter() {
                let _ = writeln!(
                    s,
                    "yingji_worker_snapshot_bytes{{worker=\"{w}\",partition=\"{p}\"}} {b}"
                );
            }
            let _ = writeln!(
                s,
                "# HELP yingji_worker_checkpoint_ms last checkpoint time per partition\n# TYPE yingji_worker_checkpoint_ms gauge"
            );
            for (p, (_, ms, _)) in m.iter() {
                let _ = writeln!(
                    s,
                    "yingji_worker_checkpoint_ms{{worker=\"{w}\",partition=\"{p}\"}} {ms:.1}"
                );
            }
            let _ = writeln!(
                s,
                "# HELP yingji_worker_values partition values (counties) per partition\n# TYPE yingji_worker_values gauge"
            );
            for (p, (_, _, n)) in m.iter() {
                let _ = writeln!(
                    s,
                    "yingji_worker_values{{worker=\"{w}\",partition=\"{p}\"}} {n}"
                );
            }
        }
        s
    }
}
