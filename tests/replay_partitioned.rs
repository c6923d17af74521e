//! `partition by` in `yingji run` and `yingji replay`: one engine per value
//! of the field, each with its own clock (the worker's semantics); `replay
//! --threads N` spreads the partitions over N engine threads and gives, byte
//! for byte, the outputs of `yingji run` and the diagnostics of `--threads 1`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use proptest::prelude::*;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn yingji(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_yingji"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run yingji")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("yingji-part-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn gzip(path: &Path, data: &str) {
    let f = std::fs::File::create(path).unwrap();
    let mut z = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
    z.write_all(data.as_bytes()).unwrap();
    z.finish().unwrap();
}

/// Rain and river readings partitioned by township; a rainstorm signal, a
/// silence (`missing`: timers, fired at the end too) and a river signal.
const DEFS: &str = "\
event rain partition by town { station: string, town: string, mm: number }
event river_level partition by town { station: string, town: string, level_m: number }

signal 暴雨 {
  from rain
  key station
  let r3 = sum(mm, 3h)
  level orange when r3 >= 50
  level blue when r3 >= 20
}

signal 失联 {
  from rain
  key station
  missing 2h
}

signal 水位 {
  from river_level
  key station
  level yellow when level_m >= 150
}
";

fn defs(d: &Path, partitioned: bool) -> PathBuf {
    let p = d.join(if partitioned { "part.yj" } else { "plain.yj" });
    let t = if partitioned {
        DEFS.to_string()
    } else {
        DEFS.replace(" partition by town", "")
    };
    std::fs::write(&p, t).unwrap();
    p
}

/// `yingji run DEFS --events whole` against `yingji replay DEFS --events
/// parts… --threads N` for N = 1..4 (small chunks): equal stdout; replay's
/// stderr the same for every N. Returns run's stdout and replay's stderr.
fn same_as_run(defs: &Path, whole: &Path, parts: &[&Path], chunk: usize) -> (String, String) {
    let (defs, w) = (defs.to_str().unwrap(), whole.to_str().unwrap());
    let run = yingji(&["run", defs, "--events", w]);
    assert!(run.status.success(), "run: {}", text(&run.stderr));
    let mut first_err: Option<String> = None;
    for threads in ["1", "2", "3", "4"] {
        let chunk = chunk.to_string();
        let mut args = vec!["replay", defs, "--events"];
        args.extend(parts.iter().map(|p| p.to_str().unwrap()));
        args.extend(["--threads", threads, "--chunk-bytes", &chunk]);
        let rep = yingji(&args);
        assert!(
            rep.status.success(),
            "threads {threads}: {}",
            text(&rep.stderr)
        );
        assert_eq!(
            text(&rep.stdout),
            text(&run.stdout),
            "threads {threads}: outputs differ from `yingji run`"
        );
        let err = text(&rep.stderr);
        match &first_err {
            None => first_err = Some(err),
            Some(e) => assert_eq!(&err, e, "threads {threads}: diagnostics differ"),
        }
    }
    (text(&run.stdout), first_err.unwrap_or_default())
}

fn json_lines(s: &str) -> Vec<serde_json::Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The town of an input line, if it has one as text.
fn town_of(line: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    v.get("town")?.as_str().map(str::to_string)
}

/// The reference: each town's lines alone (the others blanked, so input
/// positions stay), through the *unpartitioned* definitions. The partitioned
/// run's outputs, ids aside, are the union of those runs, each town's in its
/// own run's order; ids are 1..n in output order.
fn check_against_one_run_per_town(d: &Path, all: &str, partitioned_out: &str) {
    let plain = defs(d, false);
    let lines: Vec<&str> = all.lines().collect();
    let mut towns: Vec<String> = lines.iter().filter_map(|l| town_of(l)).collect();
    towns.sort();
    towns.dedup();
    let part = d.join("part.yj").display().to_string();
    let mut got = json_lines(&partitioned_out.replace(&part, "DEFS"));
    for (i, o) in got.iter_mut().enumerate() {
        assert_eq!(o["id"], serde_json::json!(i + 1), "ids in output order");
        o.as_object_mut().unwrap().remove("id");
    }
    let mut union = Vec::new();
    for t in &towns {
        let only: Vec<&str> = lines
            .iter()
            .map(|l| {
                if town_of(l).as_deref() == Some(t) {
                    *l
                } else {
                    ""
                }
            })
            .collect();
        let p = d.join("one-town.jsonl");
        std::fs::write(&p, only.join("\n") + "\n").unwrap();
        let r = yingji(&[
            "run",
            plain.to_str().unwrap(),
            "--events",
            p.to_str().unwrap(),
        ]);
        assert!(r.status.success(), "{}", text(&r.stderr));
        let mine_text = text(&r.stdout).replace(&plain.display().to_string(), "DEFS");
        let mut mine = json_lines(&mine_text);
        for o in &mut mine {
            o.as_object_mut().unwrap().remove("id");
        }
        // in this town's order within the merged output
        let mut at = got.iter();
        for o in &mine {
            assert!(at.any(|g| g == o), "town {t}: {o} missing or out of order");
        }
        union.extend(mine);
    }
    let key = |v: &serde_json::Value| v.to_string();
    let mut a: Vec<String> = got.iter().map(key).collect();
    let mut b: Vec<String> = union.iter().map(key).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b, "the partitioned run is the towns' runs together");
}

#[test]
fn each_town_has_its_own_clock() {
    let d = dir("clock");
    let p = defs(&d, true);
    // 江口镇's clock runs ahead; 南溪镇's reading at 00:58 is not late in its own town
    let ev = "\
{\"ts\":\"2024-07-29T01:00:00+08:00\",\"kind\":\"rain\",\"station\":\"A\",\"town\":\"南溪镇\",\"mm\":30}
{\"ts\":\"2024-07-29T03:00:00+08:00\",\"kind\":\"rain\",\"station\":\"B\",\"town\":\"江口镇\",\"mm\":1}
{\"ts\":\"2024-07-29T03:00:00+08:00\",\"kind\":\"rain\",\"station\":\"C\",\"town\":\"江口镇\",\"mm\":1}
{\"ts\":\"2024-07-29T00:58:00+08:00\",\"kind\":\"rain\",\"station\":\"A\",\"town\":\"南溪镇\",\"mm\":25}
";
    let e = d.join("e.jsonl");
    std::fs::write(&e, ev).unwrap();
    let plain = yingji(&[
        "run",
        defs(&d, false).to_str().unwrap(),
        "--events",
        e.to_str().unwrap(),
    ]);
    assert!(
        text(&plain.stdout).contains("\"type\":\"late\""),
        "one clock: the 00:58 reading is late\n{}",
        text(&plain.stdout)
    );
    let (out, _) = same_as_run(&p, &e, &[&e], 64);
    let outs = json_lines(&out);
    assert!(outs.iter().all(|o| o["type"] != "late"), "{out}");
    let summary: Vec<String> = outs
        .iter()
        .map(|o| {
            format!(
                "{} {} {} {}",
                o["id"],
                o["type"].as_str().unwrap(),
                o["key"].as_str().unwrap_or("-"),
                o["event"]
            )
        })
        .collect();
    // 南溪镇's clock is its own: the 00:58 reading raises blue, then the
    // 01:00 one (released at the end, as the town's clock stood at 01:00) orange
    assert_eq!(
        summary,
        ["1 level_changed A 4", "2 level_changed A 1",],
        "{out}"
    );
    check_against_one_run_per_town(&d, ev, &out);
}

#[test]
fn lines_without_the_field_are_refused_with_their_reason() {
    let d = dir("field");
    let p = defs(&d, true);
    let ev = "\
{\"ts\":\"2024-07-29T01:00:00+08:00\",\"kind\":\"rain\",\"station\":\"A\",\"town\":\"南溪镇\",\"mm\":30}
{\"ts\":\"2024-07-29T01:00:00+08:00\",\"kind\":\"rain\",\"station\":\"A\",\"mm\":30}
{\"ts\":\"2024-07-29T01:00:00+08:00\",\"kind\":\"rain\",\"station\":\"A\",\"town\":7,\"mm\":30}
{\"ts\":\"2024-07-29T01:00:00+08:00\",\"kind\":\"tide\",\"station\":\"A\"}
{\"ts\":\"2024-07-29T01:00:00+08:00\",\"kind\":\"tide\",\"town\":true}
{\"ts\":\"2024-07-29T01:00:00+08:00\",\"kind\":\"tide\",\"town\":\"江口镇\"}
";
    let e = d.join("e.jsonl");
    std::fs::write(&e, ev).unwrap();
    let rj = d.join("rejects.jsonl");
    let r = yingji(&[
        "run",
        p.to_str().unwrap(),
        "--events",
        e.to_str().unwrap(),
        "--rejects",
        rj.to_str().unwrap(),
    ]);
    assert!(r.status.success());
    let err = text(&r.stderr);
    for want in [
        "e.jsonl:2: rejected: a `rain` event needs field `town`",
        "e.jsonl:3: rejected: field `town` of a `rain` event must be a string",
        "e.jsonl:4: rejected: no partition field `town` (the definitions partition by it)",
        "e.jsonl:5: rejected: partition field `town` is not text: true",
        "accepted: 2, rejected: 4, ignored (no definition uses their kind): 1",
        "partitions (town): 2",
    ] {
        assert!(err.contains(want), "{want}\n{err}");
    }
    let lines: Vec<&str> = ev.lines().collect();
    assert_eq!(
        std::fs::read_to_string(&rj).unwrap(),
        [lines[1], lines[2], lines[3], lines[4]].join("\n") + "\n"
    );
    // replay reports the same lines, whatever the threads
    let (_, rep) = same_as_run(&p, &e, &[&e], 100);
    assert!(
        rep.contains("e.jsonl:4: rejected: no partition field `town`"),
        "{rep}"
    );
    assert!(rep.contains("rejected: 4"), "{rep}");
}

#[test]
fn options_that_need_one_engine_are_refused() {
    let d = dir("opts");
    let p = defs(&d, true);
    let e = d.join("e.jsonl");
    std::fs::write(&e, "").unwrap();
    let (p, e) = (p.to_str().unwrap(), e.to_str().unwrap());
    let st = d.join("state.json");
    for (extra, what) in [
        (
            vec!["--state", st.to_str().unwrap()],
            "--state cannot be used with `partition by town`",
        ),
        (
            vec!["--follow"],
            "--follow cannot be used with `partition by town`",
        ),
        (
            vec!["--events", "-", "--clock", "wall"],
            "--clock wall cannot be used",
        ),
    ] {
        let mut args = vec!["run", p];
        if !extra.contains(&"-") {
            args.extend(["--events", e]);
        }
        args.extend(extra.iter().copied());
        let o = yingji(&args);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
        assert!(text(&o.stderr).contains(what), "{}", text(&o.stderr));
        assert!(o.stdout.is_empty());
    }
    assert!(!st.exists(), "no state written");
}

#[test]
fn until_runs_every_town_on_and_is_refused_before_a_clock() {
    let d = dir("until");
    let p = defs(&d, true);
    let e = d.join("e.jsonl");
    std::fs::write(
        &e,
        "{\"ts\":\"2024-07-29T01:00:00+08:00\",\"kind\":\"rain\",\"station\":\"A\",\"town\":\"南溪镇\",\"mm\":1}\n\
         {\"ts\":\"2024-07-29T05:00:00+08:00\",\"kind\":\"rain\",\"station\":\"B\",\"town\":\"江口镇\",\"mm\":1}\n",
    )
    .unwrap();
    let (p, e) = (p.to_str().unwrap(), e.to_str().unwrap());
    let ok = yingji(&[
        "run",
        p,
        "--events",
        e,
        "--until",
        "2024-07-29T08:00:00+08:00",
    ]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    let keys: Vec<String> = json_lines(&text(&ok.stdout))
        .iter()
        .map(|o| {
            format!(
                "{} {}",
                o["type"].as_str().unwrap(),
                o["key"].as_str().unwrap()
            )
        })
        .collect();
    // the silences 2h after each gauge's last reading, town by town (first-line order)
    assert_eq!(keys, ["absence A", "absence B"]);
    for cmd in ["run", "replay"] {
        let bad = yingji(&[
            cmd,
            p,
            "--events",
            e,
            "--until",
            "2024-07-29T03:00:00+08:00",
        ]);
        assert_eq!(bad.status.code(), Some(2), "{cmd}: {}", text(&bad.stderr));
        assert!(
            text(&bad.stderr).contains("cannot run the clock to 2024-07-29T03:00:00+08:00"),
            "{}",
            text(&bad.stderr)
        );
        assert!(bad.stdout.is_empty(), "{cmd}: nothing of the ends written");
    }
}

/// One line of a random stream.
#[derive(Clone, Debug)]
enum Line {
    /// A reading of gauge `station` (in town `station % 4`), `back` minutes
    /// off the stream's running time (negative: out of order or late).
    Rain { station: u8, back: i16, mm: u8 },
    /// A river reading.
    River { town: u8, level: u8 },
    /// The `n`-th line before, sent again.
    Again(u8),
    /// A reading with an id (sent again by `Again`: a duplicate by id).
    WithId { id: u8, mm: u8 },
    /// A reading without the field.
    NoTown,
    /// A reading whose field is a number.
    NumberTown,
    /// Not an event.
    Bad,
    /// Blank.
    Blank,
}

fn line_strategy() -> impl Strategy<Value = Line> {
    prop_oneof![
        8 => (0u8..8, -90i16..5, 0u8..40).prop_map(|(station, back, mm)| Line::Rain { station, back, mm }),
        1 => (0u8..4, 0u8..60).prop_map(|(town, level)| Line::River { town, level }),
        2 => (1u8..20).prop_map(Line::Again),
        1 => (0u8..4, 0u8..40).prop_map(|(id, mm)| Line::WithId { id, mm }),
        1 => Just(Line::NoTown),
        1 => Just(Line::NumberTown),
        1 => Just(Line::Bad),
        1 => Just(Line::Blank),
    ]
}

const TOWNS: [&str; 4] = ["南溪镇", "江口镇", "双江街道", "故陵镇"];

fn ts(min: i64) -> String {
    let min = min.max(0);
    let (d, h, m) = (28 + min / 1440, min % 1440 / 60, min % 60);
    format!("2024-07-{d:02}T{h:02}:{m:02}:00+08:00")
}

fn render(lines: &[Line]) -> String {
    let mut out: Vec<String> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let now = 10 * i as i64;
        let s = match l {
            Line::Rain { station, back, mm } => format!(
                "{{\"ts\":\"{}\",\"kind\":\"rain\",\"station\":\"YY-{:03}\",\"town\":\"{}\",\"mm\":{mm}}}",
                ts(now + i64::from(*back)),
                station + 1,
                TOWNS[usize::from(*station) % TOWNS.len()]
            ),
            Line::River { town, level } => format!(
                "{{\"ts\":\"{}\",\"kind\":\"river_level\",\"station\":\"H-{town}\",\"town\":\"{}\",\"level_m\":{}}}",
                ts(now),
                TOWNS[usize::from(*town) % TOWNS.len()],
                140 + u32::from(*level) / 4
            ),
            Line::Again(n) => out
                .len()
                .checked_sub(usize::from(*n))
                .and_then(|k| out.get(k).cloned())
                .unwrap_or_default(),
            Line::WithId { id, mm } => format!(
                "{{\"ts\":\"{}\",\"kind\":\"rain\",\"id\":\"r{id}\",\"station\":\"YY-001\",\"town\":\"南溪镇\",\"mm\":{mm}}}",
                ts(now)
            ),
            Line::NoTown => format!(
                "{{\"ts\":\"{}\",\"kind\":\"rain\",\"station\":\"YY-002\",\"mm\":3}}",
                ts(now)
            ),
            Line::NumberTown => format!(
                "{{\"ts\":\"{}\",\"kind\":\"rain\",\"station\":\"YY-002\",\"town\":5,\"mm\":3}}",
                ts(now)
            ),
            Line::Bad => "{\"ts\":\"2024-07-28T00:00:00+08:00\",\"kind\":".to_string(),
            Line::Blank => String::new(),
        };
        out.push(s);
    }
    out.join("\n") + "\n"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10))]

    /// Random streams over four towns (out of order, late, duplicates by
    /// content and by id, lines without the field or with a number, bad and
    /// blank lines), cut into a plain and a gzip file at a random line:
    /// replay on 1..4 threads = run, and run = one run per town.
    #[test]
    fn random_partitioned_streams_replay_as_run(
        lines in proptest::collection::vec(line_strategy(), 20..160),
        cut in 0.0f64..1.0,
        gz_first in any::<bool>(),
        chunk in 64usize..2048,
    ) {
        let d = dir("prop");
        let p = defs(&d, true);
        let all = render(&lines);
        std::fs::write(d.join("all.jsonl"), &all).unwrap();
        let starts: Vec<usize> = std::iter::once(0)
            .chain(all.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        let at = starts[((starts.len() - 1) as f64 * cut) as usize];
        let (a, b) = all.split_at(at);
        let (pa, pb) = if gz_first {
            (d.join("a.jsonl.gz"), d.join("b.jsonl"))
        } else {
            (d.join("a.jsonl"), d.join("b.jsonl.gz"))
        };
        for (path, t) in [(&pa, a), (&pb, b)] {
            if path.extension().is_some_and(|e| e == "gz") {
                gzip(path, t);
            } else {
                std::fs::write(path, t).unwrap();
            }
        }
        let (out, _) = same_as_run(&p, &d.join("all.jsonl"), &[&pa, &pb], chunk);
        check_against_one_run_per_town(&d, &all, &out);
    }
}

/// The random lines reach what they are for: several towns, late records,
/// duplicates, refusals of lines without the field.
#[test]
fn the_random_lines_reach_the_paths_they_are_for() {
    let mut lines = Vec::new();
    for i in 0..80u8 {
        lines.push(Line::Rain {
            station: i % 8,
            back: 0,
            mm: 30,
        });
        match i % 10 {
            1 => lines.push(Line::Rain {
                station: 2,
                back: -90,
                mm: 5,
            }),
            3 => lines.push(Line::Again(2)),
            5 => lines.push(Line::NoTown),
            7 => lines.push(Line::NumberTown),
            9 => lines.push(Line::WithId { id: 1, mm: 2 }),
            _ => {}
        }
    }
    let d = dir("reach");
    let p = defs(&d, true);
    let all = render(&lines);
    let e = d.join("all.jsonl");
    std::fs::write(&e, &all).unwrap();
    let r = yingji(&["run", p.to_str().unwrap(), "--events", e.to_str().unwrap()]);
    let (out, err) = (text(&r.stdout), text(&r.stderr));
    assert!(out.contains("\"type\":\"late\""), "{out}");
    assert!(out.contains("\"type\":\"level_changed\""), "{out}");
    assert!(
        err.contains("no partition field `town`") || err.contains("needs field `town`"),
        "{err}"
    );
    assert!(err.contains("must be a string"), "{err}");
    assert!(!err.contains("duplicates: 0,"), "{err}");
    assert!(err.contains("partitions (town): 4"), "{err}");
}

#[test]
fn without_partition_by_nothing_changes() {
    // the same definitions without the clause: one engine, one clock (the
    // first test shows the difference); no partitions line in the summary
    let d = dir("plain");
    let e = d.join("e.jsonl");
    std::fs::write(
        &e,
        render(&[Line::Rain {
            station: 1,
            back: 0,
            mm: 3,
        }]),
    )
    .unwrap();
    let r = yingji(&[
        "run",
        defs(&d, false).to_str().unwrap(),
        "--events",
        e.to_str().unwrap(),
    ]);
    assert!(r.status.success());
    assert!(
        !text(&r.stderr).contains("partitions"),
        "{}",
        text(&r.stderr)
    );
}

/// `--open-end`: the end of the input is not the end of the stream. What the
/// lateness holds back stays held (partitioned or not), exactly what a run
/// with a state file and no `--final` gives; with `--final` or `--until` it
/// is refused.
#[test]
fn open_end_keeps_what_the_lateness_holds() {
    let d = dir("open_end");
    // the 01:00 reading is released by the 03:00 one; the 03:00 ones are
    // held back by the lateness at the end
    let ev = "\
{\"ts\":\"2024-07-29T01:00:00+08:00\",\"kind\":\"rain\",\"station\":\"A\",\"town\":\"南溪镇\",\"mm\":60}
{\"ts\":\"2024-07-29T03:00:00+08:00\",\"kind\":\"rain\",\"station\":\"A\",\"town\":\"南溪镇\",\"mm\":1}
{\"ts\":\"2024-07-29T03:00:00+08:00\",\"kind\":\"rain\",\"station\":\"B\",\"town\":\"南溪镇\",\"mm\":30}
";
    let e = d.join("e.jsonl");
    std::fs::write(&e, ev).unwrap();
    let e = e.to_str().unwrap();
    for partitioned in [false, true] {
        let p = defs(&d, partitioned);
        let p = p.to_str().unwrap();
        let whole = yingji(&["run", p, "--events", e]);
        let open = yingji(&["run", p, "--events", e, "--open-end"]);
        assert!(open.status.success(), "{}", text(&open.stderr));
        let (whole, open) = (
            json_lines(&text(&whole.stdout)),
            json_lines(&text(&open.stdout)),
        );
        // A's orange at 01:00 is out; B's blue at 03:00 only when the input ends
        let keyed = |v: &[serde_json::Value]| -> Vec<String> {
            v.iter()
                .map(|o| format!("{} {} {}", o["type"], o["key"], o["to"]))
                .collect()
        };
        assert_eq!(
            keyed(&open),
            ["\"level_changed\" \"A\" \"orange\""],
            "partitioned {partitioned}: {open:?}"
        );
        assert!(
            keyed(&whole).contains(&"\"level_changed\" \"B\" \"blue\"".to_string()),
            "partitioned {partitioned}: {whole:?}"
        );
        assert_eq!(whole[..open.len()], open[..], "a prefix of the whole run");
        if !partitioned {
            // the same as a state file without --final
            let st = d.join("s.state");
            let _ = std::fs::remove_file(&st);
            let stated = yingji(&["run", p, "--events", e, "--state", st.to_str().unwrap()]);
            assert_eq!(json_lines(&text(&stated.stdout)), open);
        }
        for extra in [
            vec!["--final"],
            vec!["--until", "2024-07-30T00:00:00+08:00"],
        ] {
            let mut args = vec!["run", p, "--events", e, "--open-end"];
            args.extend(extra.iter().copied());
            let o = yingji(&args);
            assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", text(&o.stderr));
            assert!(
                text(&o.stderr).contains("cannot be used with"),
                "{}",
                text(&o.stderr)
            );
            assert!(o.stdout.is_empty());
        }
    }
}
