//! Structure-aware state files: a real snapshot (the bundled definitions
//! after part of the sample streams) with a few values replaced anywhere in
//! its JSON tree, then resealed with a valid checksum so the mutation reaches
//! the section decoders and the consistency check. Restoring never panics; a
//! refused one changes nothing; an accepted one takes events, and its own
//! snapshot restores.
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::Value as Json;
use std::sync::OnceLock;

#[derive(Arbitrary, Debug)]
enum Leaf {
    Null,
    Bool(bool),
    Int(i64),
    Small(u8),
    Float(f64),
    Str(String),
    EmptyArray,
    EmptyObject,
    /// Drop this member or element.
    Remove,
    /// Duplicate this element (arrays) / keep as is (objects).
    Duplicate,
}

#[derive(Arbitrary, Debug)]
struct Mutation {
    /// At each level, which member or element to descend into.
    path: Vec<u16>,
    leaf: Leaf,
}

fn base() -> &'static (Json, Vec<String>) {
    static B: OnceLock<(Json, Vec<String>)> = OnceLock::new();
    B.get_or_init(|| {
        let defs = yingji_fuzz::all_definitions();
        let mut e = defs.engine().unwrap();
        let mut out = Vec::new();
        let rain: Vec<&str> = include_str!("../../samples/rain.jsonl").lines().collect();
        let acks: Vec<&str> = include_str!("../../plans/samples/flood_acks.jsonl")
            .lines()
            .collect();
        let mut n = 0;
        for l in acks.iter().chain(rain.iter().take(400)) {
            n += 1;
            let _ = e.push_line(l, n, &mut out);
        }
        let later: Vec<String> = rain
            .iter()
            .skip(400)
            .take(20)
            .map(|s| s.to_string())
            .collect();
        (serde_json::from_slice(&e.snapshot()).unwrap(), later)
    })
}

fn apply(v: &mut Json, path: &[u16], leaf: &Leaf) {
    let Some((&step, rest)) = path.split_first() else {
        *v = match leaf {
            Leaf::Null | Leaf::Remove | Leaf::Duplicate => Json::Null,
            Leaf::Bool(b) => Json::Bool(*b),
            Leaf::Int(i) => Json::from(*i),
            Leaf::Small(i) => Json::from(*i),
            Leaf::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
            Leaf::Str(s) => Json::String(s.clone()),
            Leaf::EmptyArray => Json::Array(Vec::new()),
            Leaf::EmptyObject => Json::Object(Default::default()),
        };
        return;
    };
    match v {
        Json::Array(a) if !a.is_empty() => {
            let i = usize::from(step) % a.len();
            match (rest.is_empty(), leaf) {
                (true, Leaf::Remove) => {
                    a.remove(i);
                }
                (true, Leaf::Duplicate) => {
                    let x = a[i].clone();
                    a.insert(i, x);
                }
                _ => apply(&mut a[i], rest, leaf),
            }
        }
        Json::Object(m) if !m.is_empty() => {
            let key = m.keys().nth(usize::from(step) % m.len()).cloned().unwrap();
            if rest.is_empty() && matches!(leaf, Leaf::Remove) {
                m.remove(&key);
            } else if let Some(x) = m.get_mut(&key) {
                apply(x, rest, leaf);
            }
        }
        _ => apply(v, &[], leaf),
    }
}

fuzz_target!(|mutations: Vec<Mutation>| {
    let (doc, later) = base();
    let mut doc = doc.clone();
    for m in mutations.iter().take(8) {
        apply(&mut doc, &m.path, &m.leaf);
    }
    if let Some(o) = doc.as_object_mut() {
        o.remove("checksum");
    }
    let sum = yingji::unstable::engine::state::checksum(&doc);
    if let Some(o) = doc.as_object_mut() {
        o.insert("checksum".into(), sum.into());
    }
    let bytes = serde_json::to_vec(&doc).unwrap();
    let defs = yingji_fuzz::all_definitions();
    let mut e = defs.engine().unwrap();
    let fresh = e.snapshot();
    match e.restore(&bytes) {
        Err(_) => assert_eq!(e.snapshot(), fresh, "a refused snapshot changed the engine"),
        Ok(_) => {
            let mut out = Vec::new();
            for (i, l) in later.iter().enumerate() {
                let _ = e.push_line(l, 10_000 + i as u64, &mut out);
            }
            e.flush(&mut out);
            let again = e.snapshot();
            defs.engine()
                .unwrap()
                .restore(&again)
                .unwrap_or_else(|err| panic!("the engine's own snapshot does not restore: {err}"));
        }
    }
});
