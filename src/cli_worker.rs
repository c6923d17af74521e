//! `yingji worker`: one worker of a partitioned group on NATS JetStream
//! (the `yingji-serve` crate's `worker` module does the work).

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `yingji worker` (see docs/worker.md).
#[derive(clap::Args)]
pub struct WorkerArgs {
    /// `.yj` / `.yaml` files or folders; an event kind declares the partition
    /// field (`event rain partition by county { … }`).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// NATS server URL(s), comma-separated.
    #[arg(long, required = true)]
    nats: String,
    /// The worker group (part of subject, stream and bucket names).
    #[arg(long)]
    group: String,
    /// This worker's id (default: HOSTNAME-PID).
    #[arg(long)]
    id: Option<String>,
    /// Stream partitions, fixed when the group is created.
    #[arg(long, default_value_t = 8)]
    partitions: u32,
    /// Replicas of the group's streams and buckets.
    #[arg(long, default_value_t = 1)]
    replicas: usize,
    /// Lease duration (a dead worker's partitions are taken after it).
    #[arg(long, default_value = "5s")]
    lease: String,
    /// How often each partition is checkpointed.
    #[arg(long, default_value = "5s")]
    checkpoint_every: String,
    /// Serve Prometheus metrics at ADDR (`/metrics`).
    #[arg(long)]
    metrics: Option<String>,
}

/// Runs the worker until SIGTERM or SIGINT.
pub fn run(a: WorkerArgs) -> ExitCode {
    let mut args = vec![
        "--nats".to_string(),
        a.nats,
        "--group".into(),
        a.group,
        "--partitions".into(),
        a.partitions.to_string(),
        "--replicas".into(),
        a.replicas.to_string(),
        "--lease".into(),
        a.lease,
        "--checkpoint-every".into(),
        a.checkpoint_every,
    ];
    if let Some(id) = a.id {
        args.extend(["--id".to_string(), id]);
    }
    if let Some(m) = a.metrics {
        args.extend(["--metrics".to_string(), m]);
    }
    args.extend(
        a.paths
            .into_iter()
            .map(|p| p.to_string_lossy().into_owned()),
    );
    let code = yingji_serve::worker::main_with_args(args);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
