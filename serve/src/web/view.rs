//! The `/api/view` document: the whole screen, from the views (see
//! `docs/web.md` and `docs/schemas/serve/web_view.schema.json`).

use super::Meta;
use crate::config::GeoData;
use crate::views::Views;
use serde_json::{Value, json};
use yingji_engine::Timestamp;

/// A level's rank (`none` 0 … `red` 4).
pub fn rank(level: &str) -> u8 {
    match level {
        "blue" => 1,
        "yellow" => 2,
        "orange" => 3,
        "red" => 4,
        _ => 0,
    }
}

fn ms(ts: &str) -> Option<i64> {
    Timestamp::parse(ts).ok().map(|t| t.ms)
}

/// `II` → `Ⅱ级` (a response level as the screen shows it).
pub fn response_zh(level: &str) -> Option<String> {
    let r = match level {
        "IV" => "Ⅳ",
        "III" => "Ⅲ",
        "II" => "Ⅱ",
        "I" => "Ⅰ",
        _ => return None,
    };
    Some(format!("{r}级"))
}

/// The document. `clock`: the engine's clock (calls past their deadline
/// at it are `overdue`); `geo`: the configured GeoJSON, whose missing
/// townships are listed.
pub fn view(
    views: &Views,
    meta: &Meta,
    boot: &str,
    clock: Option<&str>,
    geo: Option<&GeoData>,
) -> Value {
    let places = &meta.places;
    let now = clock.and_then(ms);
    // townships: the highest level over the signals whose key lies in each
    let mut signals: Vec<Vec<Value>> = vec![Vec::new(); places.townships.len()];
    let mut best: Vec<&str> = vec!["none"; places.townships.len()];
    let mut elsewhere = Vec::new();
    for (sig, keys) in &views.levels {
        for (key, lv) in keys {
            let s = json!({"signal": sig, "key": key, "level": lv.level, "since": lv.since});
            match places.of_key(key) {
                Some(i) => {
                    if let (Some(list), Some(b)) = (signals.get_mut(i), best.get_mut(i)) {
                        list.push(s);
                        if rank(&lv.level) > rank(b) {
                            *b = lv.level.as_str();
                        }
                    }
                }
                None => elsewhere.push(s),
            }
        }
    }
    // absent stations by township
    let mut absent: Vec<Vec<&str>> = vec![Vec::new(); places.townships.len()];
    for (k, st) in &views.stations {
        if st.absent {
            if let Some(list) = places.of_key(k).and_then(|i| absent.get_mut(i)) {
                list.push(k);
            }
        }
    }
    let townships: Vec<Value> = places
        .townships
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut o = json!({
                "code": t.code, "name": t.name,
                "level": best.get(i).copied().unwrap_or("none"),
                "signals": signals.get(i).cloned().unwrap_or_default(),
                "absent": absent.get(i).cloned().unwrap_or_default(),
                "tile": t.tile,
            });
            if let (Some(g), Some(m)) = (geo, o.as_object_mut()) {
                m.insert(
                    "geo_missing".into(),
                    Value::Bool(!g.codes.contains(&t.code)),
                );
            }
            o
        })
        .collect();
    // stations: the roster's, and any key seen reading or absent
    let mut ids: Vec<&str> = places.stations.iter().map(|(k, _)| k.as_str()).collect();
    for k in views.stations.keys() {
        if !ids.contains(&k.as_str()) {
            ids.push(k);
        }
    }
    ids.sort_unstable();
    let stations: Vec<Value> = ids
        .into_iter()
        .map(|id| {
            let st = views.stations.get(id).cloned().unwrap_or_default();
            json!({
                "id": id,
                "township": places.of_key(id).and_then(|i| places.code(i)),
                "absent": st.absent, "absent_since": st.absent_since, "last": st.last,
            })
        })
        .collect();
    // calls: open instances' calls, by instance then tier
    let mut calls: Vec<Value> = Vec::new();
    for (inst, p) in &views.plans {
        let mut refs: Vec<&String> = p.calls.iter().collect();
        refs.sort_by_key(|r| views.calls.get(*r).map_or(0, |c| c.tier));
        for r in refs {
            let Some(c) = views.calls.get(r) else {
                continue;
            };
            let past = match (c.deadline.as_deref().and_then(ms), now) {
                (Some(d), Some(n)) => n > d,
                _ => false,
            };
            let pending: Vec<&str> = c
                .people
                .iter()
                .filter(|x| x.answered.is_none())
                .map(|x| x.id.as_str())
                .collect();
            let people: Vec<Value> = c
                .people
                .iter()
                .map(|x| {
                    let late = match (x.deadline.as_deref().and_then(ms), now) {
                        (Some(d), Some(n)) => n > d,
                        _ => false,
                    };
                    json!({
                        "id": x.id, "name": x.name, "role": x.role, "tier": x.tier,
                        "channels": x.channels, "called": x.called, "deadline": x.deadline,
                        "answered": x.answered, "response_s": x.response_s,
                        "in_time": x.in_time,
                        "overdue": late && x.answered.is_none(),
                    })
                })
                .collect();
            calls.push(json!({
                "ref": r, "instance": inst, "plan": p.plan, "area": p.area,
                "township": places.of_area(&p.area).and_then(|i| places.code(i)),
                "chain": c.chain, "tier": c.tier, "step": c.step, "people": people,
                "deadline": c.deadline,
                "answered": !c.answered.is_empty(),
                "pending": pending,
                "overdue": past && c.answered.is_empty(),
                "escalations": c.escalations,
            }));
        }
    }
    let plans: Vec<Value> = views
        .plans
        .iter()
        .map(|(inst, p)| {
            let measures: Vec<Value> = p
                .measures
                .iter()
                .map(|m| {
                    json!({"measure": m.measure, "target": m.target, "ts": m.ts, "step": m.step,
                           "text": format!("{} @ {}", m.measure, m.target)})
                })
                .collect();
            json!({
                "instance": inst, "plan": p.plan, "area": p.area,
                "township": places.of_area(&p.area).and_then(|i| places.code(i)),
                "started": p.started, "step": p.step, "tier": p.tier,
                "response": p.response.as_deref().and_then(response_zh),
                "response_level": p.response,
                "measures": measures,
                "pending": views.pending(inst).len(),
                "graph": meta.graphs.get(&p.plan).cloned().unwrap_or(Value::Null),
            })
        })
        .collect();
    let geo_v = match geo {
        Some(g) => {
            let missing: Vec<&str> = places
                .townships
                .iter()
                .filter(|t| !g.codes.contains(&t.code))
                .map(|t| t.code.as_str())
                .collect();
            json!({"configured": true, "missing": missing})
        }
        None => json!({"configured": false, "missing": []}),
    };
    json!({
        "boot": boot,
        "seq": views.seq,
        "clock": clock,
        "updated": views.updated,
        "townships": townships,
        "other_signals": elsewhere,
        "stations": stations,
        "calls": calls,
        "plans": plans,
        "geo": geo_v,
        "timeline": views.timeline,
    })
}
