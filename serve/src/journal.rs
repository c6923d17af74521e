//! The input journal: every input the engine task applies, in order, written
//! before it is applied.
//!
//! This is what makes a restart exact whatever the sources can replay (an
//! SL 651 station that got its ACK never sends the frame again; an MQTT
//! QoS 0 message is gone): the checkpoint names a journal file and an
//! offset, the restart restores the snapshot and applies the journal from
//! there, and the engine, being deterministic, derives the same outputs with
//! the same ids, which the sink queues then recognise as already queued.
//!
//! One JSON object per line:
//! - `{"src":"gauges","line":"{...}","at":1234}`: an event line from a
//!   source (`at`: for followed files, the byte offset after the line);
//! - `{"tick":1722211200000}`: the wall-clock tick (the engine's wall time
//!   is set and its clock advanced to it);
//! - `{"silence":{...}}`: a silence added through the API (routing state).
//!
//! A line cut short by a crash (no final newline, or not JSON) ends the
//! journal: it is truncated away when the journal is reopened.

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// One journal record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Record {
    /// An event line.
    Line {
        /// The source's name.
        src: String,
        /// The line, as received.
        line: String,
        /// For followed files: the byte offset after the line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<u64>,
    },
    /// A wall-clock tick (ms since the epoch).
    Tick {
        /// The wall time.
        tick: i64,
    },
    /// A silence added through the API.
    Silence {
        /// The silence.
        silence: crate::route::Silence,
    },
}

/// The journal file being written.
pub struct Journal {
    dir: PathBuf,
    generation: u64,
    file: File,
    len: u64,
    fsync: bool,
}

/// The journal file of generation `generation` in `dir`.
pub fn path_of(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("journal-{generation:08}.jsonl"))
}

impl Journal {
    /// Opens generation `generation` for appending, first cutting off a
    /// torn last line. Returns the journal and the records from `from` on
    /// (what the checkpoint does not cover yet).
    pub fn open(
        dir: &Path,
        generation: u64,
        from: u64,
        fsync: bool,
    ) -> std::io::Result<(Journal, Vec<Record>)> {
        let path = path_of(dir, generation);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        let mut records = Vec::new();
        let mut good = 0u64;
        {
            file.seek(SeekFrom::Start(0))?;
            let mut reader = BufReader::new(&file);
            let mut pos = 0u64;
            let mut buf = Vec::new();
            loop {
                buf.clear();
                let n = reader.read_until(b'\n', &mut buf)?;
                if n == 0 {
                    break;
                }
                if buf.last() != Some(&b'\n') {
                    break;
                }
                let Ok(rec) = serde_json::from_slice::<Record>(&buf) else {
                    break;
                };
                pos += n as u64;
                if pos > from {
                    records.push(rec);
                }
                good = pos;
            }
        }
        let total = file.metadata()?.len();
        if total > good {
            tracing::warn!(
                journal = %path.display(),
                cut = total - good,
                "journal ends in a torn record (a crash while writing): cut off"
            );
            file.set_len(good)?;
        }
        Ok((
            Journal {
                dir: dir.to_path_buf(),
                generation,
                file,
                len: good,
                fsync,
            },
            records,
        ))
    }

    /// Appends a record (one write; fsync when configured).
    pub fn append(&mut self, rec: &Record) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(rec).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        if self.fsync {
            self.file.sync_data()?;
        }
        self.len += line.len() as u64;
        Ok(())
    }

    /// The generation and length: where a checkpoint taken now resumes.
    pub fn position(&self) -> (u64, u64) {
        (self.generation, self.len)
    }

    /// Starts the next generation (after a checkpoint covering all of this
    /// one was written); the previous file is removed.
    pub fn rotate(&mut self) -> std::io::Result<()> {
        let next = self.generation + 1;
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .truncate(false)
            .open(path_of(&self.dir, next))?;
        file.set_len(0)?;
        let old = path_of(&self.dir, self.generation);
        self.file = file;
        self.generation = next;
        self.len = 0;
        let _ = std::fs::remove_file(old);
        Ok(())
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder,
/// synced, then renamed over `path` (a crash leaves the old or the new file,
/// never a mix).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test")]
    use super::*;

    #[test]
    fn records_after_the_offset_come_back_and_a_torn_tail_is_cut() {
        let dir = std::env::temp_dir().join(format!("yj-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (mut j, recs) = Journal::open(&dir, 1, 0, false).unwrap();
        assert!(recs.is_empty());
        j.append(&Record::Tick { tick: 5 }).unwrap();
        let (_, mid) = j.position();
        j.append(&Record::Line {
            src: "a".into(),
            line: "{\"x\":1}".into(),
            at: Some(8),
        })
        .unwrap();
        drop(j);
        // a torn record
        let mut f = OpenOptions::new()
            .append(true)
            .open(path_of(&dir, 1))
            .unwrap();
        f.write_all(b"{\"src\":\"a\",\"li").unwrap();
        drop(f);
        let (j, recs) = Journal::open(&dir, 1, mid, false).unwrap();
        assert_eq!(
            recs,
            vec![Record::Line {
                src: "a".into(),
                line: "{\"x\":1}".into(),
                at: Some(8)
            }]
        );
        assert_eq!(
            j.position().1,
            std::fs::metadata(path_of(&dir, 1)).unwrap().len()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
