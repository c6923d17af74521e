//! `yingji run --format cap --out-dir DIR`: each warning-level change as a
//! CAP 1.2 / GB/T 35965.1 alert file (`yingji_serve::cap`).

use std::io;
use std::path::{Path, PathBuf};
use yingji::Output;
use yingji_serve::cap::{CapConfig, CapState, alert};

/// The flags of `run --format cap`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct CapArgs {
    /// With `--format cap`: the folder the alert files are written to
    /// (`<identifier>.xml`, one per warning raise, change and clear; created
    /// if missing). The file names are written to standard output (or `--out`).
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    /// With `--format cap`: the CAP mapping (default: `cap.yaml` in the
    /// first given folder that has one, e.g. `policies/cap.yaml`).
    #[arg(long)]
    pub cap_config: Option<PathBuf>,
}

/// Writes the alerts of a run.
pub struct CapWriter {
    cfg: CapConfig,
    state: CapState,
    dir: PathBuf,
}

/// The mapping file to use: the one given, else `cap.yaml` in a given folder.
fn mapping(args: &CapArgs, paths: &[PathBuf]) -> Option<PathBuf> {
    args.cap_config.clone().or_else(|| {
        paths
            .iter()
            .filter(|p| p.is_dir())
            .map(|p| p.join("cap.yaml"))
            .find(|p| p.is_file())
    })
}

impl CapWriter {
    /// Checks the flags and reads the mapping; `Err` is the message for the
    /// user (a usage error).
    pub fn open(args: &CapArgs, paths: &[PathBuf], state: bool) -> Result<CapWriter, String> {
        let dir = args
            .out_dir
            .clone()
            .ok_or("--format cap needs --out-dir DIR (one file per alert)")?;
        if state {
            return Err(
                "--format cap does not go with --state: the alerts' references need the whole run"
                    .into(),
            );
        }
        let file = mapping(args, paths).ok_or(
            "--format cap needs a CAP mapping: --cap-config FILE, or a cap.yaml in a given folder (see policies/cap.yaml)",
        )?;
        let cfg = CapConfig::load(&file).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(CapWriter {
            cfg,
            state: CapState::default(),
            dir,
        })
    }

    /// Writes the alert of an output, if it makes one; its file's path.
    pub fn write(&mut self, o: &Output) -> io::Result<Option<PathBuf>> {
        let Some(a) = alert(o, &self.cfg, &mut self.state) else {
            return Ok(None);
        };
        let path = self.dir.join(format!("{}.xml", a.identifier));
        write_file(&path, a.xml.as_bytes())?;
        Ok(Some(path))
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    std::fs::write(path, bytes)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// `--out-dir`/`--cap-config` given without `--format cap`.
pub fn misplaced(args: &CapArgs) -> Option<&'static str> {
    (args.out_dir.is_some() || args.cap_config.is_some())
        .then_some("--out-dir and --cap-config go with --format cap")
}
