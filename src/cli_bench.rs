//! `yingji bench`: the harness is the `yingji-bench` crate; this module
//! hands it what `yingji run` does with a file (the stream API), which the
//! harness cannot depend on.

use std::io;
use std::path::Path;
use yingji::stream::{Item, Options, lines, run};
use yingji::{Engine, Output};

/// Reads `file` through [`yingji::stream::run`] with the default options,
/// as `yingji run FILE` does, calling `each` with every output in order.
pub fn run_file(
    engine: Engine,
    file: &Path,
    each: &mut dyn FnMut(&Output) -> io::Result<()>,
) -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let f = tokio::fs::File::open(file).await?;
        let source = lines(tokio::io::BufReader::with_capacity(1 << 16, f));
        let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
        let task = tokio::spawn(run(engine, vec![source], tx, Options::default()));
        while let Some(item) = rx.recv().await {
            if let Item::Output(o) = item {
                each(&o)?;
            }
        }
        task.await.map_err(io::Error::other)?;
        Ok(())
    })
}
