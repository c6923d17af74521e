//! Shared helpers for the plan tests (included with `mod`).

#![allow(dead_code, reason = "each test file uses a different part")]

use std::sync::Arc;
use yingji::unstable::dsl::SourceMap;
use yingji::unstable::dsl::plan::{PlanLoad, load_plan_texts};
use yingji::unstable::engine::event::Schema;
use yingji::unstable::engine::ir::Program;
use yingji::unstable::engine::output::{LevelChange, Output, Values};
use yingji::unstable::engine::workflow::WorkflowRuntime;
use yingji::unstable::engine::workflow::runtime::merge_kinds;
use yingji::{Level, Timestamp};

/// The plan files shipped in `plans/`.
pub fn shipped() -> Vec<(String, String)> {
    let mut v = Vec::new();
    for name in [
        "flood.yaml",
        "geohazard.yaml",
        "responsibility.yaml",
        "roster.yaml",
    ] {
        let path = format!("{}/plans/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        v.push((format!("plans/{name}"), text));
    }
    v
}

/// A program with the two signals the plans use, compiled from the DSL (the
/// tests feed level changes directly, so the level rules do not matter).
pub fn program() -> Program {
    let src = "event rain { station: string, town: string, mm: number }\n\
               signal 暴雨预警 { from rain key station let r3 = sum(mm, 3h) level red when r3 >= 100 }\n\
               signal 水位预警 { from rain key station level red when mm >= 1000 }\n";
    match yingji::Definitions::from_str("test.yj", src) {
        Ok(d) => d.unstable_program().clone(),
        Err(e) => panic!("{e}"),
    }
}

/// Loads plan texts against [`program`].
pub fn load(texts: &[(String, String)]) -> (SourceMap, PlanLoad) {
    let mut sources = SourceMap::default();
    let p = program();
    let loaded = load_plan_texts(&mut sources, texts, Some(&p));
    (sources, loaded)
}

/// `2024-07-29T03:MM:SS+08:00` shifted by `secs` from 03:00.
pub fn t(secs: i64) -> String {
    let base = Timestamp::parse("2024-07-29T03:00:00+08:00")
        .map(|t| t.ms)
        .unwrap_or(0);
    Timestamp {
        ms: base + secs * 1000,
        offset_min: 480,
    }
    .to_string()
}

/// A runtime over the shipped plans, fed by hand.
pub struct Harness {
    pub rt: WorkflowRuntime,
    pub program: Program,
    pub schema: Schema,
    pub seq: u64,
    pub out: Vec<Output>,
    pub levels: Vec<((String, String), Level)>,
}

impl Harness {
    pub fn new(texts: &[(String, String)]) -> Result<Harness, String> {
        let (sources, loaded) = load(texts);
        if loaded.has_errors() {
            return Err(loaded
                .diagnostics
                .iter()
                .map(|d| d.render(&sources))
                .collect());
        }
        let mut program = program();
        merge_kinds(&mut program, &loaded.set);
        let schema = Schema::new(&program);
        Ok(Harness {
            rt: WorkflowRuntime::new(loaded.set, &program),
            program,
            schema,
            seq: 0,
            out: Vec::new(),
            levels: Vec::new(),
        })
    }

    pub fn shipped() -> Result<Harness, String> {
        Harness::new(&shipped())
    }

    /// Pushes one JSON event line.
    pub fn event(&mut self, line: &str) -> Result<(), String> {
        self.seq += 1;
        let ev = self
            .schema
            .parse(line, &self.program, self.seq)
            .map_err(|e| e.to_string())?;
        self.rt.on_event(&ev, &mut self.out);
        Ok(())
    }

    /// An ack.
    pub fn ack(&mut self, secs: i64, person: &str, r: Option<&str>) -> Result<(), String> {
        let r = r.map_or(String::new(), |r| format!(r#","ref":"{r}""#));
        self.event(&format!(
            r#"{{"ts":"{}","kind":"ack","person":"{person}"{r}}}"#,
            t(secs)
        ))
    }

    /// A rain reading at `station` in `town` that moves `signal` to `to`.
    pub fn level(
        &mut self,
        secs: i64,
        signal: &str,
        station: &str,
        town: &str,
        to: Level,
    ) -> Result<(), String> {
        self.event(&format!(
            r#"{{"ts":"{}","kind":"rain","station":"{station}","town":"{town}","mm":1}}"#,
            t(secs)
        ))?;
        let key = (signal.to_string(), station.to_string());
        let from = self
            .levels
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(Level::None, |(_, l)| *l);
        self.levels.retain(|(k, _)| *k != key);
        self.levels.push((key, to));
        let change = Output::LevelChanged(LevelChange {
            id: 0,
            ts: Timestamp::parse(&t(secs)).map_err(|e| e.to_string())?,
            signal: Arc::from(signal),
            key: Arc::from(station),
            from,
            to,
            rule: None,
            rule_at: None,
            values: Values::default(),
            event: self.seq,
            reason: yingji::unstable::engine::output::ChangeReason::Raise,
            since: Timestamp::parse(&t(secs)).map_err(|e| e.to_string())?,
        });
        self.out.push(change.clone());
        self.rt.on_output(&change, &mut self.out);
        Ok(())
    }

    /// Moves event time without an event.
    pub fn advance(&mut self, secs: i64) {
        let ms = Timestamp::parse(&t(secs)).map(|t| t.ms).unwrap_or(0);
        self.rt.advance(ms, &mut self.out);
    }

    /// Moves event time to `ms` (epoch milliseconds) without an event.
    pub fn advance_ms(&mut self, ms: i64) {
        self.rt.advance(ms, &mut self.out);
    }

    /// Takes the outputs so far as JSON values (level changes left out).
    pub fn take(&mut self) -> Vec<serde_json::Value> {
        self.out
            .drain(..)
            .filter(|o| !matches!(o, Output::LevelChanged(_)))
            .filter_map(|o| serde_json::from_str(&o.to_json()).ok())
            .collect()
    }
}

/// Outputs of one type.
pub fn of_type<'a>(outs: &'a [serde_json::Value], ty: &str) -> Vec<&'a serde_json::Value> {
    outs.iter().filter(|o| o["type"] == ty).collect()
}

/// A compact trace: `type step person/tier`.
pub fn trace(outs: &[serde_json::Value]) -> Vec<String> {
    outs.iter()
        .map(|o| {
            let mut s = format!(
                "{} {}",
                o["type"].as_str().unwrap_or(""),
                o["step"].as_str().unwrap_or("")
            );
            for k in [
                "person",
                "level",
                "measure",
                "from_tier",
                "to_tier",
                "reason",
            ] {
                if let Some(v) = o.get(k) {
                    if !v.is_null() {
                        s.push_str(&format!(
                            " {k}={}",
                            v.as_str().map_or_else(|| v.to_string(), str::to_string)
                        ));
                    }
                }
            }
            s
        })
        .collect()
}
