//! `yingji serve`: the live service.
//!
//! Sources (JSONL files followed as they grow, standard input, MQTT, NATS,
//! SL 651-2014 over TCP) feed one engine task; its outputs go to sinks
//! (JSONL files, NATS JetStream, MQTT, HTTP webhooks) through durable
//! queues; an HTTP API takes 叫应 acks, events, silences and reloads and
//! shows levels, plans, health and metrics. See [`service`] for the order
//! and durability guarantees, [`queue`] for the sinks' bounds and
//! back-pressure, [`route`] for alert routing.

pub mod cap;
pub mod sl651;

pub mod config;
pub mod defs;
pub mod http;
pub mod journal;
pub mod metrics;
pub mod queue;
pub mod route;
pub mod service;
pub mod sinks;
pub mod sources;
pub mod views;
pub mod worker;

use config::{ServeConfig, SourceConfig};
use service::{Command, Core, ServeError, Shared};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use tokio::sync::{mpsc, oneshot, watch};

/// Longest event line a source takes (1 MiB, as `yingji run`).
pub const MAX_LINE: usize = 1 << 20;

/// How long a graceful shutdown waits for the sinks to drain.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs the service until SIGTERM or SIGINT (graceful: the input channel is
/// applied, a checkpoint written, the sinks drained for up to 10 s; what
/// they could not deliver stays in their queues for the next start).
pub async fn run(paths: Vec<PathBuf>, cfg: ServeConfig) -> Result<(), ServeError> {
    let cfg = Arc::new(cfg);
    std::fs::create_dir_all(&cfg.state_dir).map_err(|source| ServeError::Io {
        what: format!("{}: create", cfg.state_dir.display()),
        source,
    })?;
    let _lock = StateLock::take(&cfg.state_dir)?;
    let mut queues = Vec::new();
    for s in &cfg.sinks {
        let q =
            queue::Queue::open(&cfg.state_dir, &s.name, cfg.queue.max_bytes).map_err(|source| {
                ServeError::Io {
                    what: format!("sink {}: its queue", s.name),
                    source,
                }
            })?;
        queues.push(q);
    }
    let (in_tx, in_rx) = mpsc::channel(cfg.input_channel);
    let (cmd_tx, cmd_rx) = mpsc::channel(64);
    let shared = Arc::new(Shared {
        cfg: cfg.clone(),
        in_tx: in_tx.clone(),
        cmd_tx: cmd_tx.clone(),
        views: RwLock::default(),
        silences: RwLock::default(),
        metrics: Arc::default(),
        queues: queues.clone(),
        status: RwLock::default(),
    });
    let core = Core::start(&paths, cfg.clone(), shared.clone()).await?;
    let positions = core.file_positions();

    // the HTTP port first: a port in use stops the start, before anything runs
    let listener = match &cfg.http {
        Some(h) => Some(
            tokio::net::TcpListener::bind(&h.listen)
                .await
                .map_err(|e| ServeError::Start(format!("http.listen {}: {e}", h.listen)))?,
        ),
        None => None,
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut sink_tasks = Vec::new();
    for (s, q) in cfg.sinks.iter().zip(queues.iter()) {
        sink_tasks.push(tokio::spawn(sinks::run_sink(
            s.clone(),
            q.clone(),
            shared.metrics.clone(),
            stop_rx.clone(),
        )));
    }
    let mut sl651_stats: Option<Arc<sl651::Sl651Stats>> = None;
    for s in &cfg.sources {
        let name: Arc<str> = Arc::from(s.name());
        let tx = in_tx.clone();
        match s {
            SourceConfig::File { path, poll, .. } => {
                let from = positions.get(&*name).copied().unwrap_or(0);
                tokio::spawn(sources::follow_file(
                    name,
                    path.clone(),
                    from,
                    poll.std(),
                    tx,
                ));
            }
            SourceConfig::Stdin { .. } => {
                tokio::spawn(sources::stdin(name, tx));
            }
            SourceConfig::Mqtt {
                host,
                port,
                topics,
                client_id,
                ..
            } => {
                let id = client_id
                    .clone()
                    .unwrap_or_else(|| format!("yingji-serve-{}", name.replace([':', '/'], "-")));
                tokio::spawn(sources::mqtt(
                    name,
                    host.clone(),
                    *port,
                    topics.clone(),
                    id,
                    tx,
                ));
            }
            SourceConfig::Nats { url, subjects, .. } => {
                tokio::spawn(sources::nats(name, url.clone(), subjects.clone(), tx));
            }
            SourceConfig::Sl651 {
                listen, stations, ..
            } => {
                let table = sl651::StationTable::load(stations).map_err(|e| {
                    ServeError::Start(format!("source {name}: the station table: {e}"))
                })?;
                let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
                    ServeError::Start(format!("source {name}: listen {listen}: {e}"))
                })?;
                let stats = sl651_stats
                    .get_or_insert_with(|| {
                        let st = Arc::new(sl651::Sl651Stats::new());
                        let shown = st.clone();
                        shared
                            .metrics
                            .add_extra(Arc::new(move || shown.prometheus()));
                        st
                    })
                    .clone();
                // the server replies to a station only once its whole report
                // is journaled (`serve_tcp_reports`): the report's lines go
                // in order, the last one carries the journal's confirmation
                // (the journal is written in channel order), and the station
                // hears back after it, so a crash never loses a report the
                // station was answered for
                let (rtx, mut rrx) = mpsc::channel::<sl651::Handed>(16);
                let options = sl651::ServerOptions {
                    source: name.to_string(),
                    ..sl651::ServerOptions::default()
                };
                tokio::spawn(sl651::serve_tcp_reports(
                    listener,
                    Arc::new(table),
                    rtx,
                    stats,
                    options,
                ));
                tokio::spawn(async move {
                    while let Some(report) = rrx.recv().await {
                        let last = report.lines.len().saturating_sub(1);
                        let mut confirmed = None;
                        for (i, line) in report.lines.into_iter().enumerate() {
                            let journaled = if i == last {
                                let (done, rx) = oneshot::channel();
                                confirmed = Some(rx);
                                Some(done)
                            } else {
                                None
                            };
                            let inp = service::Input {
                                src: name.clone(),
                                line,
                                at: None,
                                journaled,
                            };
                            if tx.send(inp).await.is_err() {
                                return;
                            }
                        }
                        if let Some(rx) = confirmed {
                            if rx.await.is_err() {
                                return;
                            }
                        }
                        // the server may have given up on the station: nothing to do then
                        let _ = report.confirm.send(());
                    }
                });
            }
        }
    }
    if let Some(listener) = listener {
        let app = http::router(shared.clone());
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "the HTTP API stopped");
            }
        });
    }
    drop(in_tx);
    let engine = tokio::spawn(core.run(in_rx, cmd_rx));
    tracing::info!(
        sources = cfg.sources.len(),
        sinks = cfg.sinks.len(),
        http = cfg.http.as_ref().map(|h| h.listen.as_str()),
        "yingji serve started"
    );
    signals(cmd_tx).await;
    if let Err(e) = engine.await {
        tracing::error!(error = %e, "the engine task failed");
    }
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(DRAIN, futures::future::join_all(sink_tasks)).await;
    if drained.is_err() {
        tracing::warn!(
            "sinks not drained within 10 s: what is left stays queued for the next start"
        );
    }
    tracing::info!("yingji serve stopped");
    Ok(())
}

/// `state_dir/serve.pid`: one service per state folder (two would write the
/// same journal and queues). A file left by a killed service (its process
/// is gone) is taken over; removed when the service stops.
struct StateLock(PathBuf);

impl StateLock {
    fn take(dir: &std::path::Path) -> Result<StateLock, ServeError> {
        let path = dir.join("serve.pid");
        let me = std::process::id();
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    use std::io::Write;
                    let _ = writeln!(f, "{me}");
                    return Ok(StateLock(path));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let other = std::fs::read_to_string(&path).unwrap_or_default();
                    let pid = other.trim();
                    let alive = !pid.is_empty()
                        && pid != me.to_string()
                        && std::path::Path::new(&format!("/proc/{pid}")).exists();
                    if alive {
                        return Err(ServeError::Start(format!(
                            "{}: another yingji serve (pid {pid}) uses this state folder",
                            path.display()
                        )));
                    }
                    tracing::warn!(pid, "a stale serve.pid (its process is gone): taken over");
                    let _ = std::fs::remove_file(&path);
                }
                Err(e) => {
                    return Err(ServeError::Io {
                        what: format!("{}: create", path.display()),
                        source: e,
                    });
                }
            }
        }
        Err(ServeError::Start(format!(
            "{}: could not take the state folder",
            path.display()
        )))
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Waits for SIGTERM or SIGINT (then asks the engine task to stop) while
/// turning SIGHUP into reloads.
async fn signals(cmd_tx: mpsc::Sender<Command>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        std::future::pending::<()>().await;
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: stopping"); break; }
            _ = int.recv() => { tracing::info!("SIGINT: stopping"); break; }
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading the definitions");
                let (tx, rx) = oneshot::channel();
                if cmd_tx.send(Command::Reload { reply: tx }).await.is_err() { break; }
                tokio::spawn(async move {
                    match rx.await {
                        Ok(Ok(r)) => tracing::info!(kept = ?r.kept, reset = ?r.reset, "SIGHUP reload done"),
                        Ok(Err(e)) => tracing::warn!(diagnostics = %e.rendered, "SIGHUP reload refused"),
                        Err(_) => {}
                    }
                });
            }
        }
    }
    let _ = cmd_tx.send(Command::Shutdown).await;
}

/// Sets up `tracing` logs on standard error: JSON lines when `json`, else
/// text; the level from `RUST_LOG` (default `info`).
pub fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = if json {
        b.json().try_init()
    } else {
        b.try_init()
    };
}

/// The command line shared by `yingji serve` and `yingji-serve`:
/// `<PATH>... --config serve.yaml [--log-json]`. Returns the exit code.
pub fn main_with_args(args: Vec<String>) -> i32 {
    let mut paths = Vec::new();
    let mut config = None;
    let mut json = false;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--config" => config = it.next(),
            "--log-json" => json = true,
            "-h" | "--help" => {
                println!(
                    "yingji serve <PATH>... --config serve.yaml [--log-json]\n\n\
                     Runs the definitions in PATH (files or folders) as a service: sources,\n\
                     sinks, checkpoints and the HTTP API as serve.yaml says (see README)."
                );
                return 0;
            }
            s if s.starts_with("--config=") => {
                config = s.strip_prefix("--config=").map(str::to_string)
            }
            s if s.starts_with("--") => {
                eprintln!("yingji serve: unknown option `{s}` (see --help)");
                return 2;
            }
            _ => paths.push(PathBuf::from(a)),
        }
    }
    let Some(config) = config else {
        eprintln!("yingji serve: --config serve.yaml is required");
        return 2;
    };
    serve_main(paths, PathBuf::from(config), json)
}

/// `yingji serve PATHS --config CONFIG`: sets up logs, reads the
/// configuration and runs the service; returns the exit code (0 after a
/// graceful stop, 1 when it could not start, 2 for a bad configuration).
pub fn serve_main(paths: Vec<PathBuf>, config: PathBuf, log_json: bool) -> i32 {
    if paths.is_empty() {
        eprintln!("yingji serve: give the definitions (files or folders) to run");
        return 2;
    }
    init_logs(log_json);
    let cfg = match ServeConfig::load(&config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("yingji serve: {e}");
            return 2;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("yingji serve: cannot start the runtime: {e}");
            return 1;
        }
    };
    match rt.block_on(run(paths, cfg)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("yingji serve: {e}");
            1
        }
    }
}
