//! `yingji replay --threads N` gives, byte for byte, the outputs of
//! `yingji run` (ids and order included) and the diagnostics of
//! `yingji replay --threads 1`, whatever N and however the input is cut
//! into chunks and files (plain and gzip).

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
    let d = std::env::temp_dir().join(format!("yingji-par-{}-{name}", std::process::id()));
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

/// `yingji run DEFS --events whole` against `yingji replay DEFS --events
/// parts… --threads N` for N = 1..4, with small chunks so that every
/// thread gets several: equal stdout; replay's stderr the same for every N.
fn same_as_run(defs: &[&str], whole: &Path, parts: &[&Path], chunk: usize) -> String {
    let w = whole.to_str().unwrap();
    let run = yingji(&[&["run"], defs, &["--events", w]].concat());
    assert!(run.status.success(), "run: {}", text(&run.stderr));
    let mut first_err: Option<String> = None;
    for threads in ["1", "2", "3", "4"] {
        let mut args = vec!["replay"];
        args.extend_from_slice(defs);
        args.push("--events");
        args.extend(parts.iter().map(|p| p.to_str().unwrap()));
        let chunk = chunk.to_string();
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
    first_err.unwrap_or_default()
}

#[test]
fn the_readme_sample_with_the_bundled_definitions() {
    let sample = root().join("samples/rain.jsonl");
    let all = std::fs::read_to_string(&sample).unwrap();
    assert!(all.len() > 3000 * 60, "the sample is the README's storm");
    // one file, and the same cut into a plain and a gzip part
    let d = dir("sample");
    let cut = all[..all.len() / 2].rfind('\n').unwrap() + 1;
    let (a, b) = all.split_at(cut);
    std::fs::write(d.join("a.jsonl"), a).unwrap();
    gzip(&d.join("b.jsonl.gz"), b);
    let defs = ["policies", "plans"];
    for chunk in [997, 1 << 20] {
        let err = same_as_run(&defs, &sample, &[&sample], chunk);
        assert!(err.contains("rejected: 0"), "{err}");
        same_as_run(
            &defs,
            &sample,
            &[&d.join("a.jsonl"), &d.join("b.jsonl.gz")],
            chunk,
        );
    }
    let run = yingji(&["run", "policies", "plans", "--events", "samples/rain.jsonl"]);
    assert!(
        text(&run.stdout).lines().count() > 200,
        "outputs to compare"
    );
}

/// A small season in the style of `benches/gen_season.py`: gauges in the
/// bundled roster's townships, a reading every 10 minutes, storms.
fn season(stations: usize, hours: usize) -> String {
    let towns = [
        "双江街道",
        "青龙街道",
        "南溪镇",
        "江口镇",
        "故陵镇",
        "人和街道",
        "盘龙街道",
        "龙角镇",
    ];
    let mut s = String::new();
    let mut x: u64 = 7;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % 10_000) as f64 / 10_000.0
    };
    let storms: Vec<(f64, f64, f64)> = (0..stations)
        .map(|_| (rnd() * hours as f64, 1.0 + rnd() * 3.0, 0.5 + rnd() * 12.0))
        .collect();
    for k in 0..hours * 6 {
        let h = k as f64 / 6.0;
        let (day, min) = (1 + k * 10 / 1440, k * 10 % 1440);
        for (st, (c, w, p)) in storms.iter().enumerate() {
            let d = (h - c) / w;
            let mut mm = if d.abs() < 3.0 {
                p * (-d * d).exp()
            } else {
                0.0
            };
            if rnd() < 0.05 {
                mm += rnd() * 0.3;
            }
            s.push_str(&format!(
                "{{\"ts\":\"2024-07-{day:02}T{:02}:{:02}:00+08:00\",\"kind\":\"rain\",\"station\":\"YY-{:03}\",\"town\":\"{}\",\"mm\":{mm:.1}}}\n",
                min / 60,
                min % 60,
                st + 1,
                towns[st % towns.len()]
            ));
        }
    }
    s
}

#[test]
fn a_generated_season() {
    let d = dir("season");
    let s = season(40, 48);
    assert!(s.lines().count() > 10_000);
    std::fs::write(d.join("season.jsonl"), &s).unwrap();
    let p = d.join("season.jsonl");
    for defs in [&["policies", "plans"][..], &["policies/rainstorm.yj"][..]] {
        let err = same_as_run(defs, &p, &[&p], 64 * 1024);
        assert!(err.contains("outputs: "), "{err}");
        let n: usize = err
            .rsplit("outputs: ")
            .next()
            .and_then(|t| t.trim().parse().ok())
            .unwrap();
        assert!(n > 20, "the storms raise warnings ({n} outputs)");
    }
}

#[test]
fn a_bad_line_in_the_middle_gives_the_same_diagnostic() {
    let d = dir("bad");
    let all = std::fs::read_to_string(root().join("samples/rain.jsonl")).unwrap();
    let mut lines: Vec<&str> = all.lines().collect();
    let mid = lines.len() / 2;
    lines.insert(
        mid,
        "{\"ts\":\"2024-07-28T12:00:00+08:00\",\"kind\":\"rain\",\"station\":",
    );
    lines.insert(mid + 7, "");
    lines.insert(mid + 9, "{\"ts\":\"2024-07-28T12:00:00+08:00\",\"kind\":\"rain\",\"station\":\"YY-001\",\"town\":\"南溪镇\",\"mm\":\"wet\"}");
    let bad = lines.join("\n") + "\n";
    std::fs::write(d.join("bad.jsonl"), &bad).unwrap();
    let p = d.join("bad.jsonl");
    let err = same_as_run(&["policies", "plans"], &p, &[&p], 4096);
    let place = format!("bad.jsonl:{}: rejected:", mid + 1);
    assert!(err.contains(&place), "{err}");
    assert!(
        err.contains(&format!("bad.jsonl:{}: rejected:", mid + 10)),
        "{err}"
    );
    assert!(err.contains("rejected: 2"), "{err}");
}

#[test]
fn bad_arguments_and_unreadable_files_are_refused_alike() {
    let d = dir("errors");
    let zero = yingji(&[
        "replay",
        "policies",
        "--events",
        "samples/rain.jsonl",
        "--threads",
        "0",
    ]);
    assert_eq!(zero.status.code(), Some(2));
    assert!(
        text(&zero.stderr).contains("--threads"),
        "{}",
        text(&zero.stderr)
    );
    assert!(
        text(&zero.stderr).contains("at least 1"),
        "{}",
        text(&zero.stderr)
    );
    std::fs::write(
        d.join("broken.jsonl.gz"),
        b"\x1f\x8b\x08\x00 not gzip at all",
    )
    .unwrap();
    let missing = d.join("missing.jsonl");
    let broken = d.join("broken.jsonl.gz");
    for bad in [&missing, &broken] {
        let mut errs = Vec::new();
        for threads in ["1", "2", "4"] {
            let o = yingji(&[
                "replay",
                "policies",
                "--events",
                "samples/rain.jsonl",
                bad.to_str().unwrap(),
                "--threads",
                threads,
            ]);
            assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
            assert!(o.stdout.is_empty());
            errs.push(text(&o.stderr));
        }
        assert!(errs[0].contains("cannot read the events"), "{}", errs[0]);
        assert!(
            errs[0].contains(bad.file_name().unwrap().to_str().unwrap()),
            "{}",
            errs[0]
        );
        assert!(errs.iter().all(|e| e == &errs[0]), "{errs:?}");
    }
}

/// One line of a random stream.
#[derive(Clone, Debug)]
enum Line {
    /// A reading of gauge `station` at `minute` (relative to the stream's
    /// running time: negative is out of order or late).
    Rain { station: u8, back: i16, mm: u8 },
    /// A reading far ahead of the others (a gauge with a wrong clock).
    Ahead { station: u8, hours: u8 },
    /// The `n`-th line before, sent again.
    Again(u8),
    /// An ack of the flood plan's 叫应 in 南溪镇.
    Ack { back: i16 },
    /// A river gauge.
    River { level: u8 },
    /// A line with an id (sent again later with `Again`, it is a duplicate by id).
    WithId { id: u8, mm: u8 },
    /// Not an event.
    Bad,
    /// Blank.
    Blank,
}

fn line_strategy() -> impl Strategy<Value = Line> {
    prop_oneof![
        8 => (0u8..6, -40i16..5, 0u8..60).prop_map(|(station, back, mm)| Line::Rain { station, back, mm }),
        1 => (0u8..6, 25u8..60).prop_map(|(station, hours)| Line::Ahead { station, hours }),
        2 => (1u8..20).prop_map(Line::Again),
        1 => (-20i16..5).prop_map(|back| Line::Ack { back }),
        1 => (0u8..40).prop_map(|level| Line::River { level }),
        1 => (0u8..4, 0u8..60).prop_map(|(id, mm)| Line::WithId { id, mm }),
        1 => Just(Line::Bad),
        1 => Just(Line::Blank),
    ]
}

fn ts(min: i64) -> String {
    let min = min.max(0);
    let (d, h, m) = (28 + min / 1440, min % 1440 / 60, min % 60);
    format!("2024-07-{d:02}T{h:02}:{m:02}:00+08:00")
}

fn render(lines: &[Line]) -> String {
    let towns = ["南溪镇", "江口镇", "双江街道"];
    let mut out: Vec<String> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let now = 10 * i as i64;
        let s = match l {
            Line::Rain { station, back, mm } => format!(
                "{{\"ts\":\"{}\",\"kind\":\"rain\",\"station\":\"YY-{:03}\",\"town\":\"{}\",\"mm\":{mm}}}",
                ts(now + i64::from(*back)),
                station + 1,
                towns[usize::from(*station) % towns.len()]
            ),
            Line::Ahead { station, hours } => format!(
                "{{\"ts\":\"{}\",\"kind\":\"rain\",\"station\":\"YY-{:03}\",\"town\":\"南溪镇\",\"mm\":90}}",
                ts(now + 60 * i64::from(*hours)),
                station + 1
            ),
            Line::Again(n) => out
                .len()
                .checked_sub(usize::from(*n))
                .and_then(|k| out.get(k).cloned())
                .unwrap_or_default(),
            Line::Ack { back } => format!(
                "{{\"ts\":\"{}\",\"kind\":\"ack\",\"person\":\"NX01\",\"ref\":\"县防汛应急预案@南溪镇#1/叫应\"}}",
                ts(now + i64::from(*back))
            ),
            Line::River { level } => format!(
                "{{\"ts\":\"{}\",\"kind\":\"river_level\",\"station\":\"H-01\",\"town\":\"南溪镇\",\"level_m\":{}}}",
                ts(now),
                140 + u32::from(*level) / 4
            ),
            Line::WithId { id, mm } => format!(
                "{{\"ts\":\"{}\",\"kind\":\"rain\",\"id\":\"r{id}\",\"station\":\"YY-001\",\"town\":\"南溪镇\",\"mm\":{mm}}}",
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
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Random streams (out of order, duplicates by content and by id, late
    /// and far-ahead readings, acks, several sources and kinds, bad and
    /// blank lines), cut into a plain and a gzip file at a random line.
    #[test]
    fn random_streams_replay_as_run(
        lines in proptest::collection::vec(line_strategy(), 20..160),
        cut in 0.0f64..1.0,
        gz_first in any::<bool>(),
        chunk in 64usize..2048,
    ) {
        let d = dir("prop");
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
        for (p, t) in [(&pa, a), (&pb, b)] {
            if p.extension().is_some_and(|e| e == "gz") {
                gzip(p, t);
            } else {
                std::fs::write(p, t).unwrap();
            }
        }
        same_as_run(&["policies", "plans"], &d.join("all.jsonl"), &[&pa, &pb], chunk);
    }
}

/// The random streams' kinds of line do what they are for: late records,
/// far-ahead refusals, duplicates, bad lines, plan outputs from acks.
#[test]
fn the_random_lines_reach_the_paths_they_are_for() {
    let mut lines = Vec::new();
    for i in 0..120u8 {
        lines.push(Line::Rain {
            station: i % 6,
            back: 0,
            mm: 40,
        });
        match i % 10 {
            1 => lines.push(Line::Rain {
                station: 2,
                back: -40,
                mm: 5,
            }),
            3 => lines.push(Line::Ahead {
                station: 1,
                hours: 30,
            }),
            5 => lines.push(Line::Again(3)),
            6 => lines.push(Line::Ack { back: 0 }),
            7 => lines.push(Line::WithId { id: 1, mm: 3 }),
            8 => lines.push(Line::Bad),
            _ => lines.push(Line::River { level: i % 40 }),
        }
    }
    let d = dir("paths");
    std::fs::write(d.join("all.jsonl"), render(&lines)).unwrap();
    let p = d.join("all.jsonl");
    let err = same_as_run(&["policies", "plans"], &p, &[&p], 512);
    let run = yingji(&["run", "policies", "plans", "--events", p.to_str().unwrap()]);
    let out = text(&run.stdout);
    let run_err = text(&run.stderr);
    assert!(out.contains("\"type\":\"late\""), "{out}");
    assert!(out.contains("\"type\":\"level_changed\""), "{out}");
    assert!(out.contains("\"type\":\"plan_started\""), "{out}");
    assert!(
        err.contains("clock") && err.contains("not a JSON object"),
        "{err}"
    );
    assert!(!run_err.contains("duplicates: 0"), "{run_err}");
}
