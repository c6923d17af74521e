//! `yingji serve`: the live service (the `yingji-serve` crate does the work).

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `yingji serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// `.yj` / `.yaml` files or folders (reloaded on `POST /reload` and SIGHUP).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The service configuration: sources, sinks, state folder, HTTP API
    /// (see samples/serve.yaml).
    #[arg(long)]
    config: PathBuf,
    /// Logs as JSON lines on standard error (default: text).
    #[arg(long)]
    log_json: bool,
}

/// Runs the service until SIGTERM or SIGINT.
pub fn run(args: ServeArgs) -> ExitCode {
    let code = yingji_serve::serve_main(args.paths, args.config, args.log_json);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
