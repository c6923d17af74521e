//! The group's JetStream objects (streams, KV bucket, object store), their
//! names, and the definitions check against the group's `defs` key.

use super::WorkerError;
use async_nats::jetstream::{self, kv, object_store, stream};
use serde::{Deserialize, Serialize};

/// The names of a group's subjects, streams and buckets (see docs/worker.md).
#[derive(Clone, Debug)]
pub struct Names {
    /// The group.
    pub group: String,
}

impl Names {
    /// Events are published here: `yingji.G.in.<value>`.
    pub fn input_subjects(&self) -> String {
        format!("yingji.{}.in.*", self.group)
    }
    /// The input stream.
    pub fn input_stream(&self) -> String {
        format!("YINGJI_{}_IN", self.group)
    }
    /// The subjects of stream partition `p` after the subject transform.
    pub fn partition_filter(&self, p: u32) -> String {
        format!("yingji.{}.p.{p}.*", self.group)
    }
    /// The output subject of one partition value.
    pub fn output_subject(&self, value: &str) -> String {
        format!("yingji.{}.out.{value}", self.group)
    }
    /// The output stream.
    pub fn output_stream(&self) -> String {
        format!("YINGJI_{}_OUT", self.group)
    }
    /// The dead-letter subject.
    pub fn dead_subject(&self) -> String {
        format!("yingji.{}.dead", self.group)
    }
    /// The dead-letter stream.
    pub fn dead_stream(&self) -> String {
        format!("YINGJI_{}_DEAD", self.group)
    }
    /// The KV bucket.
    pub fn bucket(&self) -> String {
        format!("yingji_{}", self.group)
    }
    /// The object store of checkpoints.
    pub fn objects(&self) -> String {
        format!("yingji_{}_ckpt", self.group)
    }
}

/// A group name usable inside subjects and bucket names.
pub fn valid_group(g: &str) -> bool {
    !g.is_empty()
        && g.len() <= 64
        && g.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The `defs` key's value: what every worker of the group must run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct GroupDefs {
    /// The definitions hash (XXH3-64 of the loaded files' texts, hex).
    pub hash: String,
    /// The number of stream partitions.
    pub partitions: u32,
}

/// The group's objects, set up.
pub struct Group {
    /// The names.
    pub names: Names,
    /// The JetStream context.
    pub js: jetstream::Context,
    /// The KV bucket (leases, checkpoint pointers, workers, defs).
    pub kv: kv::Store,
    /// Checkpoint snapshots.
    pub objects: object_store::ObjectStore,
    /// The output stream (for the last message per subject).
    pub out: stream::Stream,
    /// The input stream (consumers per partition).
    pub input: stream::Stream,
}

fn nats_err(what: &str, e: impl std::fmt::Display) -> WorkerError {
    WorkerError::Nats(format!("{what}: {e}"))
}

async fn stream_of(
    js: &jetstream::Context,
    cfg: stream::Config,
) -> Result<stream::Stream, WorkerError> {
    let name = cfg.name.clone();
    js.get_or_create_stream(cfg)
        .await
        .map_err(|e| nats_err(&format!("stream {name}"), e))
}

/// Creates (idempotently) the group's streams and buckets with `replicas`.
pub async fn setup(
    js: jetstream::Context,
    group: &str,
    partitions: u32,
    replicas: usize,
) -> Result<Group, WorkerError> {
    let names = Names {
        group: group.to_string(),
    };
    let input = stream_of(
        &js,
        stream::Config {
            name: names.input_stream(),
            subjects: vec![names.input_subjects()],
            subject_transform: Some(stream::SubjectTransform {
                source: names.input_subjects(),
                destination: format!(
                    "yingji.{group}.p.{{{{partition({partitions},1)}}}}.{{{{wildcard(1)}}}}"
                ),
            }),
            num_replicas: replicas,
            storage: stream::StorageType::File,
            ..Default::default()
        },
    )
    .await?;
    let out = stream_of(
        &js,
        stream::Config {
            name: names.output_stream(),
            subjects: vec![format!("yingji.{group}.out.*")],
            num_replicas: replicas,
            storage: stream::StorageType::File,
            ..Default::default()
        },
    )
    .await?;
    stream_of(
        &js,
        stream::Config {
            name: names.dead_stream(),
            subjects: vec![names.dead_subject()],
            num_replicas: replicas,
            storage: stream::StorageType::File,
            ..Default::default()
        },
    )
    .await?;
    let kv = match js.get_key_value(names.bucket()).await {
        Ok(kv) => kv,
        Err(_) => match js
            .create_key_value(kv::Config {
                bucket: names.bucket(),
                history: 1,
                num_replicas: replicas,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
        {
            Ok(kv) => kv,
            // another worker created it meanwhile
            Err(e) => js
                .get_key_value(names.bucket())
                .await
                .map_err(|_| nats_err(&format!("KV bucket {}", names.bucket()), e))?,
        },
    };
    let objects = match js.get_object_store(names.objects()).await {
        Ok(o) => o,
        Err(_) => match js
            .create_object_store(object_store::Config {
                bucket: names.objects(),
                num_replicas: replicas,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
        {
            Ok(o) => o,
            Err(e) => js
                .get_object_store(names.objects())
                .await
                .map_err(|_| nats_err(&format!("object store {}", names.objects()), e))?,
        },
    };
    Ok(Group {
        names,
        js,
        kv,
        objects,
        out,
        input,
    })
}

/// Writes the group's `defs` key if it is not there, else compares: a
/// different hash or partition count is refused.
pub async fn check_defs(group: &Group, mine: &GroupDefs) -> Result<(), WorkerError> {
    let body = serde_json::to_vec(mine).map_err(|e| nats_err("defs", e))?;
    match group.kv.create("defs", body.into()).await {
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {}
        Err(e) => return Err(nats_err("KV defs", e)),
    }
    let theirs = group
        .kv
        .get("defs")
        .await
        .map_err(|e| nats_err("KV defs", e))?
        .ok_or_else(|| WorkerError::Nats("KV defs: vanished after it existed".into()))?;
    let theirs: GroupDefs = serde_json::from_slice(&theirs).map_err(|e| {
        WorkerError::Refused(format!(
            "the group's `defs` key is not what a worker writes ({e})"
        ))
    })?;
    if theirs.hash != mine.hash {
        return Err(WorkerError::Refused(format!(
            "these definitions (hash {}) differ from the group's (hash {}): every worker of group {} must run the same definitions; start a new group for new definitions",
            mine.hash, theirs.hash, group.names.group
        )));
    }
    if theirs.partitions != mine.partitions {
        return Err(WorkerError::Refused(format!(
            "--partitions {} differs from the group's {} (fixed when the group was created)",
            mine.partitions, theirs.partitions
        )));
    }
    Ok(())
}
