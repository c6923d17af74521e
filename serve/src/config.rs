//! `serve.yaml`: what the service reads, where it writes, where it keeps its state.
//!
//! Durations are written as policies write them (`30s`, `5m`, `1h`) and read
//! by [`yingji_engine::time::parse_duration`]. Unknown fields are refused
//! (a misspelt option must not be silently ignored).

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A problem with the configuration file, naming the file and the place.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read the serve configuration: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The YAML does not describe a configuration (with line and column).
    #[error("{path}: {message}")]
    Yaml {
        /// The file.
        path: PathBuf,
        /// serde-saphyr's message (it names the line and column).
        message: String,
    },
    /// A value that parses but cannot be used.
    #[error("{path}: {field}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The field, as a path (`sinks[1].subject`).
        field: String,
        /// Why.
        message: String,
    },
}

/// A duration written like `30s`; kept in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Millis(pub i64);

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        yingji_engine::time::parse_duration(&text)
            .map(Millis)
            .map_err(|e| serde::de::Error::custom(format!("`{text}` is not a duration: {e}")))
    }
}

impl Millis {
    /// As a [`std::time::Duration`] (negative durations count as zero).
    pub fn std(self) -> std::time::Duration {
        std::time::Duration::from_millis(u64::try_from(self.0).unwrap_or(0))
    }
}

/// The whole configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Where the checkpoint, the input journal and the sink queues live
    /// (created when missing). Relative paths are relative to the config file.
    pub state_dir: PathBuf,
    /// Allowed lateness of events (default `30s`; the CLI's default is `5m`,
    /// which also delays acks by 5 minutes: see the README).
    #[serde(default = "default_lateness")]
    pub lateness: Millis,
    /// Refuse events further than this ahead of the clock (default `1d`).
    #[serde(default = "default_max_ahead")]
    pub max_ahead: Millis,
    /// The wall-clock tick: every tick the engine's clock moves to the wall
    /// time, so timers fire while the gauges are silent (default `1s`).
    #[serde(default = "default_tick")]
    pub tick: Millis,
    /// `wall` (default): the engine's clock follows the wall clock every
    /// `tick`, so timers fire while the sources are silent; `events`: event
    /// time alone (replaying history: timers fire only as events advance).
    #[serde(default)]
    pub clock: ClockMode,
    /// The UTC offset, in minutes, that wall-clock times are written in
    /// (default 480, China Standard Time).
    #[serde(default = "default_offset")]
    pub utc_offset_min: i16,
    /// How often the state is checkpointed (default `30s`; also on SIGTERM,
    /// SIGINT, reload and graceful shutdown).
    #[serde(default = "default_checkpoint")]
    pub checkpoint_every: Millis,
    /// Lines the input channel holds before the sources wait (default 4096).
    #[serde(default = "default_channel")]
    pub input_channel: usize,
    /// Flush the journal to disk (fsync) after every write: survives a
    /// power cut, not only a killed process (default false).
    #[serde(default)]
    pub fsync: bool,
    /// The HTTP API.
    #[serde(default)]
    pub http: Option<HttpConfig>,
    /// Where events come from.
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
    /// Where outputs go.
    #[serde(default)]
    pub sinks: Vec<SinkConfig>,
    /// The CAP 1.2 mapping (`policies/cap.yaml`): needed by sinks with
    /// `format: cap`.
    #[serde(default)]
    pub cap_mapping: Option<PathBuf>,
    /// Bounds of every sink's durable queue.
    #[serde(default)]
    pub queue: QueueConfig,
    /// Silences loaded at start (more can be added with `POST /silences`).
    #[serde(default)]
    pub silences: Vec<crate::route::SilenceSpec>,
    /// Alert routing (grouping, inhibition, templates, rate limits).
    #[serde(default)]
    pub route: Option<crate::route::RouteConfig>,
    /// The duty-officer screen (`/`, `/api/*`; on whenever `http` is).
    #[serde(default)]
    pub web: WebConfig,
}

/// The duty-officer screen's settings (`web:`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// The county's own GeoJSON (a FeatureCollection whose features carry
    /// `properties.code`, GB/T 2260), served at `GET /api/geo`; checked
    /// when the configuration loads. Without it the page draws the tile map.
    #[serde(default)]
    pub geojson: Option<PathBuf>,
    /// The file naming the townships (`townships:`, name → code) and the
    /// keys' townships (`keys:`): a CAP mapping such as `policies/cap.yaml`.
    /// Default: `cap_mapping`, else the bundled list of `policies/cap.yaml`'s
    /// 42 townships (`serve/src/web/tiles.json`).
    #[serde(default)]
    pub townships: Option<PathBuf>,
    /// Outputs kept in the timeline (and the resume ring of
    /// `/api/stream`; default 2000).
    #[serde(default = "default_timeline")]
    pub timeline: usize,
    /// Replays (`POST /api/replay`).
    #[serde(default)]
    pub replay: ReplayConfig,
    /// The GeoJSON as read and checked (filled in by [`ServeConfig::load`]).
    #[serde(skip)]
    pub geo: Option<std::sync::Arc<GeoData>>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            geojson: None,
            townships: None,
            timeline: default_timeline(),
            replay: ReplayConfig::default(),
            geo: None,
        }
    }
}

fn default_timeline() -> usize {
    2000
}

/// Bounds of the replays.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayConfig {
    /// The largest JSONL body taken (default 8 MiB).
    #[serde(default = "default_replay_bytes")]
    pub max_bytes: usize,
    /// Replays running at once (default 3).
    #[serde(default = "default_replay_max")]
    pub max: usize,
    /// How long a replay lives after it started (default `2h`): then it is
    /// stopped as if deleted.
    #[serde(default = "default_replay_ttl")]
    pub ttl: Millis,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        ReplayConfig {
            max_bytes: default_replay_bytes(),
            max: default_replay_max(),
            ttl: default_replay_ttl(),
        }
    }
}

fn default_replay_bytes() -> usize {
    8 << 20
}
fn default_replay_max() -> usize {
    3
}
fn default_replay_ttl() -> Millis {
    Millis(7_200_000)
}

/// A county GeoJSON, read and checked.
#[derive(Clone, Debug)]
pub struct GeoData {
    /// The file's text (served as it is).
    pub text: String,
    /// The features' `properties.code`s.
    pub codes: std::collections::BTreeSet<String>,
}

impl GeoData {
    /// Checks `text` (from `path`): a FeatureCollection whose every feature
    /// has a string `properties.code`; errors name the file and the feature.
    pub fn parse(path: &Path, text: String) -> Result<GeoData, ConfigError> {
        let bad = |field: String, message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            field,
            message,
        };
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            bad(
                format!("line {} column {}", e.line(), e.column()),
                format!("not JSON: {e}"),
            )
        })?;
        if v.get("type").and_then(serde_json::Value::as_str) != Some("FeatureCollection") {
            return Err(bad(
                "type".into(),
                "must be \"FeatureCollection\" (a GeoJSON of the county's townships)".into(),
            ));
        }
        let Some(features) = v.get("features").and_then(serde_json::Value::as_array) else {
            return Err(bad("features".into(), "missing or not an array".into()));
        };
        let mut codes = std::collections::BTreeSet::new();
        for (i, f) in features.iter().enumerate() {
            let name = f
                .pointer("/properties/name")
                .and_then(serde_json::Value::as_str)
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            match f.pointer("/properties/code") {
                Some(serde_json::Value::String(c)) if !c.is_empty() => {
                    codes.insert(c.clone());
                }
                Some(serde_json::Value::Number(n)) => {
                    codes.insert(n.to_string());
                }
                _ => {
                    return Err(bad(
                        format!("features[{i}]{name}.properties.code"),
                        "missing: every feature needs its township's GB/T 2260 code".into(),
                    ));
                }
            }
            if f.get("geometry").is_none_or(serde_json::Value::is_null) {
                return Err(bad(
                    format!("features[{i}]{name}.geometry"),
                    "missing: the township's polygon".into(),
                ));
            }
        }
        Ok(GeoData { text, codes })
    }
}

/// What moves the engine's clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockMode {
    /// The wall clock, every tick (and the events).
    #[default]
    Wall,
    /// The events alone.
    Events,
}

fn default_lateness() -> Millis {
    Millis(30_000)
}
fn default_max_ahead() -> Millis {
    Millis(86_400_000)
}
fn default_tick() -> Millis {
    Millis(1_000)
}
fn default_offset() -> i16 {
    480
}
fn default_checkpoint() -> Millis {
    Millis(30_000)
}
fn default_channel() -> usize {
    4096
}

/// The HTTP API settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address to listen on (`127.0.0.1:8651`).
    pub listen: String,
    /// The token `POST /ack`, `/events`, `/silences` and `/reload` need in the
    /// `X-Yingji-Token` header (or `Authorization: Bearer`). Refused when empty.
    pub token: String,
    /// How long `POST /ack` waits for the engine's verdict (`acked` or
    /// `ack_rejected`) before answering `202 pending` (default `5s`).
    #[serde(default = "default_ack_wait")]
    pub ack_wait: Millis,
}

fn default_ack_wait() -> Millis {
    Millis(5_000)
}

/// One source.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceConfig {
    /// A JSONL file, followed as it grows (its position is in the checkpoint).
    File {
        /// The source's name (metrics, logs); default `file:<path>`.
        #[serde(default)]
        name: Option<String>,
        /// The file.
        path: PathBuf,
        /// How often to look for new lines (default `200ms`).
        #[serde(default = "default_poll")]
        poll: Millis,
        /// Pace the lines by their event time: `speed` event-seconds per
        /// wall second (a history file played as a drill on the live
        /// screen; needs `clock: events`). Default: as fast as they come.
        #[serde(default)]
        speed: Option<f64>,
    },
    /// Standard input, one event per line.
    Stdin {
        /// The source's name; default `stdin`.
        #[serde(default)]
        name: Option<String>,
    },
    /// MQTT subscriptions; each payload is one event (JSON object).
    Mqtt {
        /// The source's name; default `mqtt:<host>:<port>`.
        #[serde(default)]
        name: Option<String>,
        /// Broker host.
        host: String,
        /// Broker port (default 1883).
        #[serde(default = "default_mqtt_port")]
        port: u16,
        /// Topic filters.
        topics: Vec<String>,
        /// Client id (default `yingji-serve-<name>`).
        #[serde(default)]
        client_id: Option<String>,
    },
    /// NATS subjects (core NATS); each message is one event.
    Nats {
        /// The source's name; default `nats:<url>`.
        #[serde(default)]
        name: Option<String>,
        /// Server URL (`nats://127.0.0.1:4222`).
        url: String,
        /// Subjects (wildcards allowed).
        subjects: Vec<String>,
    },
    /// An SL 651-2014 telemetry TCP server.
    Sl651 {
        /// The source's name; default `sl651:<listen>`.
        #[serde(default)]
        name: Option<String>,
        /// Address to listen on.
        listen: String,
        /// The station table: SL 651 station address → the policy's key
        /// (see `serve/src/sl651`).
        stations: PathBuf,
    },
}

fn default_poll() -> Millis {
    Millis(200)
}
fn default_mqtt_port() -> u16 {
    1883
}

impl SourceConfig {
    /// The source's name.
    pub fn name(&self) -> String {
        match self {
            SourceConfig::File { name, path, .. } => name
                .clone()
                .unwrap_or_else(|| format!("file:{}", path.display())),
            SourceConfig::Stdin { name } => name.clone().unwrap_or_else(|| "stdin".into()),
            SourceConfig::Mqtt {
                name, host, port, ..
            } => name
                .clone()
                .unwrap_or_else(|| format!("mqtt:{host}:{port}")),
            SourceConfig::Nats { name, url, .. } => {
                name.clone().unwrap_or_else(|| format!("nats:{url}"))
            }
            SourceConfig::Sl651 { name, listen, .. } => {
                name.clone().unwrap_or_else(|| format!("sl651:{listen}"))
            }
        }
    }
}

/// One sink (its fields and its target's in one mapping; serde cannot
/// refuse unknown fields of a flattened mapping, so a misspelt optional
/// field of a sink is ignored).
#[derive(Clone, Debug, Deserialize)]
pub struct SinkConfig {
    /// The sink's name (its queue's file name; metrics). Unique.
    pub name: String,
    /// Output types to send (`level_changed`, `notify`, …); all when empty.
    /// Routing messages are `route_message`; service records `service`.
    #[serde(default)]
    pub types: Vec<String>,
    /// What to write: `json` (the output's JSON line, the default) or `cap`
    /// (CAP 1.2 XML of level changes).
    #[serde(default)]
    pub format: SinkFormat,
    /// Where.
    #[serde(flatten)]
    pub target: SinkTarget,
}

/// What a sink writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkFormat {
    /// The output's JSON.
    #[default]
    Json,
    /// CAP 1.2 XML (warnings only).
    Cap,
}

/// Where a sink writes.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SinkTarget {
    /// A JSONL file (appended).
    File {
        /// The file.
        path: PathBuf,
    },
    /// A NATS JetStream subject; the message id (`Nats-Msg-Id`) is the output's id.
    Nats {
        /// Server URL.
        url: String,
        /// Subject.
        subject: String,
        /// The stream to create when missing (default: none is created).
        #[serde(default)]
        stream: Option<String>,
    },
    /// An MQTT topic (QoS 1: at least once; consumers dedupe by `id`).
    Mqtt {
        /// Broker host.
        host: String,
        /// Broker port (default 1883).
        #[serde(default = "default_mqtt_port")]
        port: u16,
        /// Topic.
        topic: String,
    },
    /// An HTTP webhook: `POST` of the JSON with `Idempotency-Key: <id>`;
    /// retried with exponential backoff.
    Webhook {
        /// `http://` URL.
        url: String,
    },
}

/// Bounds of a sink's durable queue.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Bytes of undelivered records a queue may hold (default 256 MiB).
    /// When a queue is full the engine stops taking input until the sink
    /// drains (back-pressure; nothing is dropped).
    #[serde(default = "default_queue_bytes")]
    pub max_bytes: u64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            max_bytes: default_queue_bytes(),
        }
    }
}

fn default_queue_bytes() -> u64 {
    256 << 20
}

impl ServeConfig {
    /// Reads and checks `path`; relative paths in it become relative to
    /// its folder.
    pub fn load(path: &Path) -> Result<ServeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut cfg = Self::parse(path, &text)?;
        let base = path.parent().unwrap_or(Path::new("."));
        cfg.rebase(base);
        if let Some(g) = &cfg.web.geojson {
            let text = std::fs::read_to_string(g).map_err(|source| ConfigError::Read {
                path: g.clone(),
                source,
            })?;
            cfg.web.geo = Some(std::sync::Arc::new(GeoData::parse(g, text)?));
        }
        Ok(cfg)
    }

    /// Parses and checks the text of a configuration (paths as written).
    pub fn parse(path: &Path, text: &str) -> Result<ServeConfig, ConfigError> {
        let cfg: ServeConfig = serde_saphyr::from_str(text).map_err(|e| ConfigError::Yaml {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        cfg.check(path)?;
        Ok(cfg)
    }

    fn rebase(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.state_dir);
        if let Some(p) = &mut self.cap_mapping {
            fix(p);
        }
        for p in [&mut self.web.geojson, &mut self.web.townships]
            .into_iter()
            .flatten()
        {
            fix(p);
        }
        for s in &mut self.sources {
            match s {
                SourceConfig::File { path, .. } => fix(path),
                SourceConfig::Sl651 { stations, .. } => fix(stations),
                _ => {}
            }
        }
        for s in &mut self.sinks {
            if let SinkTarget::File { path } = &mut s.target {
                fix(path);
            }
        }
    }

    fn check(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = |field: String, message: &str| ConfigError::Invalid {
            path: path.to_path_buf(),
            field,
            message: message.to_string(),
        };
        if self.tick.0 <= 0 {
            return Err(bad("tick".into(), "must be longer than 0s"));
        }
        if self.checkpoint_every.0 <= 0 {
            return Err(bad("checkpoint_every".into(), "must be longer than 0s"));
        }
        if self.lateness.0 < 0 {
            return Err(bad("lateness".into(), "must not be negative"));
        }
        if self.input_channel == 0 {
            return Err(bad("input_channel".into(), "must be at least 1"));
        }
        if self.web.timeline == 0 {
            return Err(bad("web.timeline".into(), "must be at least 1"));
        }
        if self.web.replay.max == 0 || self.web.replay.max > 64 {
            return Err(bad("web.replay.max".into(), "must be between 1 and 64"));
        }
        if self.web.replay.max_bytes == 0 {
            return Err(bad("web.replay.max_bytes".into(), "must be at least 1"));
        }
        if let Some(h) = &self.http {
            if h.token.trim().is_empty() {
                return Err(bad(
                    "http.token".into(),
                    "is empty: the API refuses callbacks without a token",
                ));
            }
        }
        let mut names = std::collections::HashSet::new();
        for (i, s) in self.sinks.iter().enumerate() {
            let ok = !s.name.is_empty()
                && s.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok {
                return Err(bad(
                    format!("sinks[{i}].name"),
                    "must be non-empty ASCII letters, digits, `-` or `_` (it names the queue file)",
                ));
            }
            if !names.insert(s.name.clone()) {
                return Err(bad(format!("sinks[{i}].name"), "is used by another sink"));
            }
            if s.format == SinkFormat::Cap && self.cap_mapping.is_none() {
                return Err(bad(
                    format!("sinks[{i}].format"),
                    "is `cap`, which needs `cap_mapping` (the CAP mapping file, e.g. policies/cap.yaml)",
                ));
            }
            if let SinkTarget::Webhook { url } = &s.target {
                if !url.starts_with("http://") {
                    return Err(bad(
                        format!("sinks[{i}].url"),
                        "only http:// webhooks are supported (put a TLS proxy in front for https)",
                    ));
                }
            }
        }
        for (i, s) in self.sources.iter().enumerate() {
            if let SourceConfig::File { speed: Some(v), .. } = s {
                if !(v.is_finite() && *v > 0.0) {
                    return Err(bad(
                        format!("sources[{i}].speed"),
                        "must be a number above 0 (event-seconds per wall second)",
                    ));
                }
                if self.clock != ClockMode::Events {
                    return Err(bad(
                        format!("sources[{i}].speed"),
                        "pacing a file by its event time needs `clock: events` (the wall clock would run ahead of the file)",
                    ));
                }
            }
        }
        let mut names = std::collections::HashSet::new();
        for (i, s) in self.sources.iter().enumerate() {
            if !names.insert(s.name()) {
                return Err(bad(
                    format!("sources[{i}].name"),
                    "is used by another source (give it a `name`)",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test")]
    use super::*;

    #[test]
    fn minimal_and_defaults() {
        let c = ServeConfig::parse(Path::new("s.yaml"), "state_dir: st\n").unwrap();
        assert_eq!(c.lateness, Millis(30_000));
        assert_eq!(c.tick, Millis(1_000));
        assert!(c.sources.is_empty());
    }

    #[test]
    fn sources_and_sinks() {
        let text = "state_dir: st\nsources:\n  - kind: file\n    path: a.jsonl\n  - kind: mqtt\n    host: 127.0.0.1\n    topics: [a/#]\nsinks:\n  - name: out\n    kind: file\n    path: o.jsonl\n  - name: js\n    kind: nats\n    url: nats://127.0.0.1:4222\n    subject: yj.out\n";
        let c = ServeConfig::parse(Path::new("s.yaml"), text).unwrap();
        assert_eq!(c.sources.len(), 2);
        assert_eq!(c.sources[1].name(), "mqtt:127.0.0.1:1883");
        assert!(matches!(c.sinks[1].target, SinkTarget::Nats { .. }));
    }

    #[test]
    fn bad_values_name_the_field() {
        let e = ServeConfig::parse(Path::new("s.yaml"), "state_dir: st\ntick: 3x\n").unwrap_err();
        assert!(e.to_string().contains("`3x` is not a duration"), "{e}");
        let e =
            ServeConfig::parse(Path::new("s.yaml"), "state_dir: st\nstate_dri: x\n").unwrap_err();
        assert!(e.to_string().contains("state_dri"), "{e}");
        let e = ServeConfig::parse(
            Path::new("s.yaml"),
            "state_dir: st\nhttp:\n  listen: 127.0.0.1:1\n  token: ''\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("http.token"), "{e}");
        let e = ServeConfig::parse(
            Path::new("s.yaml"),
            "state_dir: st\nsinks:\n  - {name: a, kind: file, path: o1}\n  - {name: a, kind: file, path: o2}\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("sinks[1].name"), "{e}");
    }

    #[test]
    fn web_settings_and_paced_files() {
        let c = ServeConfig::parse(Path::new("s.yaml"), "state_dir: st\n").unwrap();
        assert_eq!((c.web.timeline, c.web.replay.max), (2000, 3));
        let bad = |text: &str, field: &str| {
            let e = ServeConfig::parse(Path::new("s.yaml"), text)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(&format!("s.yaml: {field}: ")), "{e}");
        };
        bad("state_dir: st\nweb:\n  timeline: 0\n", "web.timeline");
        bad(
            "state_dir: st\nweb:\n  replay: { max: 0 }\n",
            "web.replay.max",
        );
        let file = "sources:\n  - { kind: file, path: a.jsonl, speed: 60 }\n";
        // pacing by event time needs the events' clock
        bad(&format!("state_dir: st\n{file}"), "sources[0].speed");
        assert!(
            ServeConfig::parse(
                Path::new("s.yaml"),
                &format!("state_dir: st\nclock: events\n{file}")
            )
            .is_ok()
        );
        bad(
            "state_dir: st\nclock: events\nsources:\n  - { kind: file, path: a, speed: -1 }\n",
            "sources[0].speed",
        );
        let e = ServeConfig::parse(Path::new("s.yaml"), "state_dir: st\nweb:\n  geojsn: x\n")
            .unwrap_err();
        assert!(e.to_string().contains("geojsn"), "{e}");
    }
}
