//! The duty-officer screen's server side: the page (embedded from
//! `serve/web/dist/`), the screen state (`GET /api/view`), its live updates
//! (`GET /api/stream`, server-sent events with resume), the county's GeoJSON
//! (`GET /api/geo`) and drills replaying a history file on an engine of
//! their own (`/api/replay`). The contract with the page is `docs/web.md`.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`Meta`] (what the definitions say: names, townships, flowcharts), [`Places`] (key → township), [`Board`] (a screen's boot id, clock and update channel), timeline entries |
//! | `view.rs` | the `/api/view` document from [`crate::views::Views`] |
//! | `stream.rs` | `/api/stream`: SSE from the timeline ring, `resync` when it cannot resume |
//! | `assets.rs` | the embedded page |
//! | `replay.rs` | replay engines |
//! | `routes.rs` | the axum handlers |
//! | `tiles.json` | the tile cartogram of the 42 townships (approximate) |

pub mod assets;
pub mod replay;
pub mod routes;
pub mod stream;
pub mod view;

use crate::cap::CapConfig;
use crate::views::{TimelineEntry, Views};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use tokio::sync::broadcast;
use yingji_engine::Output;
use yingji_engine::output::text::Timeline;
use yingji_engine::workflow::ir::PlanSet;

/// The tile cartogram, with the 42 townships' names and codes (held equal
/// to `policies/cap.yaml`'s by a test): the township list when neither
/// `web.townships` nor `cap_mapping` names one.
const TILES: &str = include_str!("tiles.json");

/// The screen's townships (name → GB/T 2260 code) and the keys' townships.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Towns {
    /// Township name → code.
    pub townships: BTreeMap<String, String>,
    /// Key → township name.
    pub keys: BTreeMap<String, String>,
}

impl Towns {
    /// The townships of `tiles.json` (no keys: the roster's stations give them).
    pub fn bundled() -> Result<Towns, String> {
        let f: TileFile =
            serde_json::from_str(TILES).map_err(|e| format!("serve/src/web/tiles.json: {e}"))?;
        Ok(Towns {
            townships: f.tiles.into_iter().map(|t| (t.name, t.code)).collect(),
            keys: BTreeMap::new(),
        })
    }

    /// A CAP mapping's townships and keys.
    pub fn of_cap(c: &CapConfig) -> Towns {
        Towns {
            townships: c.townships.clone(),
            keys: c.keys.clone(),
        }
    }
}

/// A township tile's place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct Tile {
    /// Row (0 = north).
    pub row: u32,
    /// Column (0 = west).
    pub col: u32,
}

#[derive(Deserialize)]
struct TileFile {
    tiles: Vec<TileRow>,
}

#[derive(Deserialize)]
struct TileRow {
    code: String,
    name: String,
    row: u32,
    col: u32,
}

/// The tile positions by township code, from `tiles.json`.
pub fn tiles() -> Result<BTreeMap<String, Tile>, String> {
    let f: TileFile =
        serde_json::from_str(TILES).map_err(|e| format!("serve/src/web/tiles.json: {e}"))?;
    Ok(f.tiles
        .into_iter()
        .map(|t| {
            (
                t.code,
                Tile {
                    row: t.row,
                    col: t.col,
                },
            )
        })
        .collect())
}

/// A township of the screen.
#[derive(Clone, Debug, PartialEq)]
pub struct Township {
    /// GB/T 2260 code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Its tile, if the cartogram has it.
    pub tile: Option<Tile>,
}

/// Where keys and areas are: townships (from the CAP mapping), the keys'
/// townships (the roster's station table, then the mapping's `keys`) and
/// the roster's area tree (a village's township).
#[derive(Clone, Debug, Default)]
pub struct Places {
    /// The townships in code order.
    pub townships: Vec<Township>,
    by_name: HashMap<String, usize>,
    keys: HashMap<String, String>,
    parent: HashMap<String, String>,
    /// The roster's stations (key → township name), sorted by key.
    pub stations: Vec<(String, String)>,
}

impl Places {
    /// From the township mapping and the definitions' roster.
    pub fn new(towns: &Towns, plans: &PlanSet) -> Result<Places, String> {
        let tiles = tiles()?;
        let mut list: Vec<Township> = towns
            .townships
            .iter()
            .map(|(name, code)| Township {
                code: code.clone(),
                name: name.clone(),
                tile: tiles.get(code).copied(),
            })
            .collect();
        list.sort_by(|a, b| a.code.cmp(&b.code));
        let by_name = list
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        let mut keys: HashMap<String, String> = towns.keys.clone().into_iter().collect();
        for (k, t) in &plans.roster.stations {
            keys.insert(k.clone(), t.clone());
        }
        let parent = plans
            .roster
            .areas
            .iter()
            .filter_map(|a| a.parent.clone().map(|p| (a.name.clone(), p)))
            .collect();
        let mut stations = plans.roster.stations.clone();
        stations.sort();
        Ok(Places {
            townships: list,
            by_name,
            keys,
            parent,
            stations,
        })
    }

    /// The township (index into [`Places::townships`]) an area lies in: the
    /// area itself, or the nearest enclosing township up the roster's tree.
    pub fn of_area(&self, area: &str) -> Option<usize> {
        let mut a = area;
        for _ in 0..32 {
            if let Some(i) = self.by_name.get(a) {
                return Some(*i);
            }
            a = self.parent.get(a)?;
        }
        None
    }

    /// The township of a signal key: the station's, else the key as an area.
    pub fn of_key(&self, key: &str) -> Option<usize> {
        match self.keys.get(key) {
            Some(t) => self.of_area(t),
            None => self.of_area(key),
        }
    }

    /// The code of a township index.
    pub fn code(&self, i: usize) -> Option<&str> {
        self.townships.get(i).map(|t| t.code.as_str())
    }
}

/// What the definitions give the screen: the text formatter, the places
/// and each plan's flowchart. Rebuilt on reload.
pub struct Meta {
    /// The `yingji run --format text` formatter.
    pub text: Timeline,
    /// Townships and keys.
    pub places: Places,
    /// Plan name → its flowchart (`{nodes, edges}`), as `yingji graph`
    /// draws it.
    pub graphs: HashMap<String, Value>,
}

impl Meta {
    /// From the definitions' plans and the township mapping.
    pub fn new(plans: &PlanSet, towns: &Towns) -> Result<Meta, String> {
        let graphs = plans
            .plans
            .iter()
            .map(|p| {
                let g = yingji_engine::workflow::export::to_graph(plans, p);
                (
                    p.name.clone(),
                    serde_json::to_value(&g).unwrap_or(Value::Null),
                )
            })
            .collect();
        Ok(Meta {
            text: Timeline::new(plans),
            places: Places::new(towns, plans)?,
            graphs,
        })
    }

    /// Before the definitions are loaded: no names, no townships.
    pub fn empty() -> Meta {
        Meta {
            text: Timeline::new(&PlanSet::default()),
            places: Places::default(),
            graphs: HashMap::new(),
        }
    }

    /// The timeline entry of an engine output (`v`: its JSON); numbered by
    /// [`Views::record`].
    pub fn entry(&self, o: &Output, v: &Value) -> TimelineEntry {
        let area = self.text.township(o);
        let township = match v.get("key").and_then(Value::as_str) {
            Some(k) => self.places.of_key(k),
            None => None,
        }
        .or_else(|| self.places.of_area(&area))
        .and_then(|i| self.places.code(i))
        .map(str::to_string);
        TimelineEntry {
            seq: 0,
            ts: o.ts().to_string(),
            kind: o.type_name().to_string(),
            township,
            signal: v.get("signal").and_then(Value::as_str).map(str::to_string),
            text: self.text.line(o),
            output: v.clone(),
        }
    }

    /// The timeline entry of a record the engine did not write (a service
    /// record such as `definitions_reloaded`): shown generically, its type
    /// and fields, laid out as the formatter lays out a line.
    pub fn generic_entry(&self, v: &Value) -> TimelineEntry {
        let kind = v.get("type").and_then(Value::as_str).unwrap_or("record");
        let ts = v
            .get("ts")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let shown_ts = yingji_engine::Timestamp::parse(&ts)
            .map(|t| yingji_engine::output::text::time(&t))
            .unwrap_or_else(|_| ts.clone());
        let fields: Vec<String> = v
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "type" | "id" | "ts"))
                    .map(|(k, x)| format!("{k}={x}"))
                    .collect()
            })
            .unwrap_or_default();
        TimelineEntry {
            seq: 0,
            ts,
            kind: kind.to_string(),
            township: None,
            signal: v.get("signal").and_then(Value::as_str).map(str::to_string),
            text: format!(
                "{shown_ts}  {}  {kind}  {}",
                " ".repeat(8),
                fields.join(" ")
            ),
            output: v.clone(),
        }
    }
}

/// Reads the township mapping `web.townships` names, else `cap_mapping`,
/// else the bundled list (`tiles.json`: `policies/cap.yaml`'s 42).
pub fn load_towns(cfg: &crate::config::ServeConfig) -> Result<Towns, String> {
    match cfg.web.townships.as_ref().or(cfg.cap_mapping.as_ref()) {
        Some(p) => CapConfig::load(p)
            .map(|c| Towns::of_cap(&c))
            .map_err(|e| format!("web.townships: {e}")),
        None => Towns::bundled(),
    }
}

/// What goes out on a screen's stream.
#[derive(Clone, Debug)]
pub enum Msg {
    /// A timeline entry (`event: output`), serialised.
    Output {
        /// Its number.
        seq: u64,
        /// The entry's JSON.
        data: Arc<str>,
    },
    /// After a batch (`event: view`): `{"seq","clock","updated"}`.
    View(Arc<str>),
    /// The service stops: the streams end (so a graceful shutdown is not
    /// held up by pages listening).
    Close,
}

/// One screen's run: its boot id, its clock and its update channel.
pub struct Board {
    /// This run's id (a restart or another replay has another).
    pub boot: String,
    tx: broadcast::Sender<Msg>,
    clock: RwLock<Option<String>>,
}

impl Board {
    /// A board with a fresh boot id (`prefix` names what runs: `live`, a replay id).
    pub fn new(prefix: &str) -> Board {
        let (tx, _) = broadcast::channel(1024);
        Board {
            boot: format!(
                "{prefix}-{:x}-{:x}",
                crate::service::now_ms(),
                std::process::id()
            ),
            tx,
            clock: RwLock::new(None),
        }
    }

    /// A subscription to the updates.
    pub fn subscribe(&self) -> broadcast::Receiver<Msg> {
        self.tx.subscribe()
    }

    /// The engine's clock as last set.
    pub fn clock(&self) -> Option<String> {
        self.clock
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Sets the clock.
    pub fn set_clock(&self, c: Option<String>) {
        *self
            .clock
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = c;
    }

    /// Sends an entry.
    pub fn output(&self, e: &TimelineEntry) {
        let data = serde_json::to_string(e).unwrap_or_default();
        // nobody listening is fine
        let _ = self.tx.send(Msg::Output {
            seq: e.seq,
            data: Arc::from(data),
        });
    }

    /// Ends every stream of this board.
    pub fn close(&self) {
        let _ = self.tx.send(Msg::Close);
    }

    /// Sends the `view` event closing a batch.
    pub fn batch_done(&self, views: &Views) {
        let v = serde_json::json!({"boot": self.boot, "seq": views.seq, "clock": self.clock(), "updated": views.updated});
        let _ = self.tx.send(Msg::View(Arc::from(v.to_string())));
    }
}

/// Applies engine outputs to a screen: the views, the timeline (keeping
/// `keep`) and the stream. `outs` with their JSON.
pub fn apply_outputs(
    views: &RwLock<Views>,
    board: &Board,
    meta: &Meta,
    outs: &[(Output, Value)],
    keep: usize,
) {
    if outs.is_empty() {
        return;
    }
    let mut v = views
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for (o, json) in outs {
        v.apply(json);
        let e = v.record(meta.entry(o, json), keep);
        board.output(&e);
    }
    board.batch_done(&v);
}

/// A station key's reading at `ts`, from an event line: its `station`
/// member (the bundled policies key rain and river readings by it).
pub fn reading_of(line: &str) -> Option<(String, String)> {
    if !line.contains("\"station\"") {
        return None;
    }
    #[derive(Deserialize)]
    struct R {
        ts: String,
        station: Option<String>,
    }
    let r: R = serde_json::from_str(line).ok()?;
    Some((r.station?, r.ts))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test")]
    use super::*;

    fn cap() -> CapConfig {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        CapConfig::load(&root.join("policies/cap.yaml")).unwrap()
    }

    fn bundled() -> (crate::defs::Defs, Towns) {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let defs = crate::defs::Defs::load(&[root.join("policies"), root.join("plans")]).unwrap();
        (defs, Towns::bundled().unwrap())
    }

    #[test]
    fn the_tile_map_has_each_of_the_42_townships_once() {
        let towns = cap();
        assert_eq!(towns.townships.len(), 42);
        // the bundled list is the mapping's, name for name and code for code
        assert_eq!(Towns::bundled().unwrap().townships, towns.townships);
        let t = tiles().unwrap();
        let codes: std::collections::BTreeSet<&String> = towns.townships.values().collect();
        let tiled: std::collections::BTreeSet<&String> = t.keys().collect();
        assert_eq!(codes, tiled);
        let cells: std::collections::BTreeSet<(u32, u32)> =
            t.values().map(|x| (x.row, x.col)).collect();
        assert_eq!(cells.len(), 42, "two townships on one tile");
        // the names in tiles.json are the mapping's (the file is read by people too)
        let f: Value = serde_json::from_str(TILES).unwrap();
        for x in f["tiles"].as_array().unwrap() {
            let name = x["name"].as_str().unwrap();
            assert_eq!(
                towns.townships.get(name),
                x["code"].as_str().map(str::to_string).as_ref(),
                "{name}"
            );
        }
        // the county seat's 街道 lie on the Yangtze's north bank, 故陵镇 south of it
        assert_eq!(t["500235001"].row, 4);
        assert_eq!(t["500235107"].row, 5);
    }

    #[test]
    fn keys_and_areas_find_their_township() {
        let (defs, towns) = bundled();
        let p = Places::new(&towns, defs.plans()).unwrap();
        let code = |i: Option<usize>| i.and_then(|i| p.code(i)).map(str::to_string);
        // a station through the roster's table
        assert_eq!(code(p.of_key("YY-003")), Some("500235128".into()));
        // a township's own name, a village up the area tree
        assert_eq!(code(p.of_area("江口镇")), Some("500235131".into()));
        assert_eq!(code(p.of_area("花果村")), Some("500235128".into()));
        // the county and unknown keys are in no township
        assert_eq!(code(p.of_area("云阳县")), None);
        assert_eq!(code(p.of_key("nowhere")), None);
    }

    #[test]
    fn plan_graphs_are_the_charts_of_yingji_graph() {
        let (defs, towns) = bundled();
        let m = Meta::new(defs.plans(), &towns).unwrap();
        let g = &m.graphs["县防汛应急预案"];
        let nodes = g["nodes"].as_array().unwrap();
        let flood = defs
            .plans()
            .plans
            .iter()
            .find(|p| p.name == "县防汛应急预案")
            .unwrap();
        assert_eq!(nodes.len(), flood.steps.len() + 1);
        let two = nodes.iter().find(|n| n["id"] == "二级响应").unwrap();
        assert_eq!(
            (two["kind"].as_str(), two["response"].as_str()),
            (Some("declare_response"), Some("Ⅱ"))
        );
        assert!(two["label"].as_str().unwrap().contains("启动 Ⅱ级响应"));
        let edges = g["edges"].as_array().unwrap();
        assert!(
            edges
                .iter()
                .any(|e| e["from"] == "@start" && e["to"] == "叫应")
        );
        assert!(
            edges
                .iter()
                .any(|e| e["kind"] == "guard" && e["from"] == "研判")
        );
        // every edge joins two nodes of the graph
        for e in edges {
            for end in ["from", "to"] {
                assert!(nodes.iter().any(|n| n["id"] == e[end]), "{e}");
            }
        }
    }

    #[test]
    fn unknown_records_are_shown_by_type_and_fields() {
        let e = Meta::empty().generic_entry(&serde_json::json!({
            "type": "future_record", "id": "svc-9", "ts": "2024-07-28T20:15:00+08:00",
            "signal": "暴雨预警", "count": 3
        }));
        assert_eq!(e.kind, "future_record");
        assert_eq!(e.signal.as_deref(), Some("暴雨预警"));
        assert_eq!(
            e.text,
            // laid out as the formatter lays out a line with no township
            "07-28 20:15            future_record  count=3 signal=\"暴雨预警\""
        );
    }
}
