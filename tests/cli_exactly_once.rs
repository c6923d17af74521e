//! `yingji run --state S --out O`: exactly-once outputs across `kill -9`,
//! refused inputs and outputs, `--until`, and `--clock wall` on a live feed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use yingji::unstable::engine::time::Timestamp;

const BIN: &str = env!("CARGO_BIN_EXE_yingji");

fn yingji(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run yingji")
}

/// A fresh folder for one test.
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("yingji-eo-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The sample storm `copies` times, each copy three days (the sample's span)
/// after the one before: a stream long enough for kills to land mid-run.
fn long_stream(path: &Path, copies: i64) {
    let sample =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/rain.jsonl"))
            .unwrap();
    let mut out = String::with_capacity(sample.len() * copies as usize);
    for k in 0..copies {
        for line in sample.lines() {
            let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
            let ts = Timestamp::parse(v["ts"].as_str().unwrap()).unwrap();
            v["ts"] = ts.plus_ms(k * 3 * 86_400_000).to_string().into();
            out.push_str(&v.to_string());
            out.push('\n');
        }
    }
    std::fs::write(path, out).unwrap();
}

/// splitmix64: a small deterministic PRNG, seeded per trial.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn run_args<'a>(events: &'a str, out: &'a str, state: &'a str) -> Vec<&'a str> {
    vec![
        "run",
        "policies",
        "plans",
        "--events",
        events,
        "--out",
        out,
        "--state",
        state,
        "--save-every",
        "200",
    ]
}

#[test]
fn kill_9_at_random_moments_then_rerun_gives_the_uninterrupted_output() {
    let d = dir("kill");
    let events = d.join("long.jsonl");
    long_stream(&events, 8);
    let (reference, ref_state) = (d.join("reference.jsonl"), d.join("reference.state"));
    let o = yingji(&run_args(s(&events), s(&reference), s(&ref_state)));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let expected = std::fs::read(&reference).unwrap();
    assert!(expected.len() > 10_000, "the stream gives outputs");
    // how long an uninterrupted run takes, to aim the kills inside it
    let started = Instant::now();
    let o = yingji(&run_args(
        s(&events),
        s(&d.join("timing.jsonl")),
        s(&d.join("timing.state")),
    ));
    assert_eq!(o.status.code(), Some(0));
    let span_ms = (started.elapsed().as_millis() as u64).max(20);

    let trials: u64 = std::env::var("YINGJI_KILL_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let mut killed_mid_run = 0;
    for trial in 0..trials {
        let mut rng = Rng(0x5eed ^ trial.wrapping_mul(0x1234_5678_9abc));
        let (out, state) = (
            d.join(format!("out-{trial}.jsonl")),
            d.join(format!("state-{trial}")),
        );
        let args = run_args(s(&events), s(&out), s(&state));
        let mut attempts = 0;
        loop {
            attempts += 1;
            assert!(attempts < 200, "trial {trial}: the run never completed");
            let mut child = Command::new(BIN)
                .args(&args)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            // a few kills per trial, then let it finish
            if attempts <= 4 {
                std::thread::sleep(Duration::from_millis(rng.next() % span_ms));
                if child.try_wait().unwrap().is_none() {
                    child.kill().unwrap(); // SIGKILL
                    killed_mid_run += 1;
                }
            }
            let status = child.wait().unwrap();
            if status.code() == Some(0) {
                break;
            }
            assert!(
                status.code().is_none(),
                "trial {trial}: a rerun failed: {status}"
            );
        }
        let got = std::fs::read(&out).unwrap();
        assert!(
            got == expected,
            "trial {trial}: {} bytes against {} of the uninterrupted run (after {attempts} runs)",
            got.len(),
            expected.len()
        );
        // rerunning the completed command changes nothing
        let o = yingji(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(
            std::fs::read(&out).unwrap() == expected,
            "trial {trial}: rerun"
        );
    }
    assert!(killed_mid_run > 0, "no kill landed inside a run");
}

/// A completed run of `events` into `out` with `state`.
fn completed(d: &Path, events: &Path) -> (PathBuf, PathBuf, Vec<u8>) {
    let (out, state) = (d.join("out.jsonl"), d.join("state"));
    let o = yingji(&run_args(s(events), s(&out), s(&state)));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let bytes = std::fs::read(&out).unwrap();
    assert!(!bytes.is_empty());
    (out, state, bytes)
}

#[test]
fn a_state_file_from_another_input_is_refused() {
    let d = dir("other");
    let events = d.join("events.jsonl");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/samples/rain.jsonl"),
        &events,
    )
    .unwrap();
    let (out, state, before) = completed(&d, &events);
    // the same name, another content of the same length
    let text = std::fs::read_to_string(&events)
        .unwrap()
        .replacen("YY-001", "YY-009", 1);
    std::fs::write(&events, text).unwrap();
    let o = yingji(&run_args(s(&events), s(&out), s(&state)));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "state file {} was made from another input",
            state.display()
        )) && err.contains("differ"),
        "{err}"
    );
    assert_eq!(std::fs::read(&out).unwrap(), before, "outputs untouched");
}

#[test]
fn a_shorter_input_is_refused() {
    let d = dir("shorter");
    let events = d.join("events.jsonl");
    let sample =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/rain.jsonl"))
            .unwrap();
    std::fs::write(&events, &sample).unwrap();
    let (out, state, before) = completed(&d, &events);
    std::fs::write(&events, &sample[..sample.len() / 2]).unwrap();
    let o = yingji(&run_args(s(&events), s(&out), s(&state)));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("was made from another input")
            && err.contains(&format!("has {} bytes", sample.len() / 2)),
        "{err}"
    );
    assert_eq!(std::fs::read(&out).unwrap(), before);
}

#[test]
fn a_torn_last_output_line_is_cut_back_and_a_short_output_refused() {
    let d = dir("torn");
    let events = d.join("events.jsonl");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/samples/rain.jsonl"),
        &events,
    )
    .unwrap();
    let (out, state, before) = completed(&d, &events);
    // a crash after the state was saved, in the middle of writing a line
    let mut f = std::fs::OpenOptions::new().append(true).open(&out).unwrap();
    f.write_all(br#"{"type":"level_changed","id":99"#).unwrap();
    drop(f);
    let o = yingji(&run_args(s(&events), s(&out), s(&state)));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(std::fs::read(&out).unwrap() == before, "torn line cut back");
    // an output shorter than the state records is refused
    std::fs::write(&out, &before[..before.len() / 2]).unwrap();
    let o = yingji(&run_args(s(&events), s(&out), s(&state)));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("bytes but the state file records"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&out).unwrap(), &before[..before.len() / 2]);
}

/// A warning that starts the flood plan (orange at 03:30, the 叫应 to tier 1
/// with a 5-minute timeout), then silent gauges.
fn flood_start(d: &Path) -> PathBuf {
    let events = d.join("flood_start.jsonl");
    std::fs::write(
        &events,
        concat!(
            r#"{"ts":"2024-07-29T03:00:00+08:00","kind":"rain","station":"YY-001","town":"南溪镇","mm":30}"#,
            "\n",
            r#"{"ts":"2024-07-29T03:30:00+08:00","kind":"rain","station":"YY-001","town":"南溪镇","mm":25}"#,
            "\n"
        ),
    )
    .unwrap();
    events
}

fn outputs(bytes: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn flood_escalations(outs: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    outs.iter()
        .filter(|o| o["type"] == "escalated" && o["plan"] == "县防汛应急预案")
        .collect()
}

#[test]
fn until_fires_a_pending_escalation_at_the_end_of_input() {
    let d = dir("until");
    let events = flood_start(&d);
    let o = yingji(&["run", "policies", "plans", "--events", s(&events)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let outs = outputs(&o.stdout);
    let call = outs
        .iter()
        .find(|o| o["type"] == "notify" && o["plan"] == "县防汛应急预案" && o["tier"] == 1)
        .expect("the 叫应 starts");
    assert_eq!(call["ts"], "2024-07-29T03:30:00+08:00");
    assert!(
        flood_escalations(&outs).is_empty(),
        "no clock, no escalation"
    );

    let until = "2024-07-29T03:37:00+08:00";
    let o = yingji(&[
        "run",
        "policies",
        "plans",
        "--events",
        s(&events),
        "--until",
        until,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let outs = outputs(&o.stdout);
    let esc = flood_escalations(&outs);
    assert_eq!(esc.len(), 1, "{esc:?}");
    // call time + the tier's 5-minute timeout
    assert_eq!(esc[0]["ts"], "2024-07-29T03:35:00+08:00");

    // with a state file the end of input is final too when --until is given
    let state = d.join("state");
    let o = yingji(&[
        "run",
        "policies",
        "plans",
        "--events",
        s(&events),
        "--state",
        s(&state),
        "--until",
        until,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(flood_escalations(&outputs(&o.stdout)).len(), 1);
}

#[test]
fn until_earlier_than_the_clock_is_refused() {
    let d = dir("until-early");
    let events = flood_start(&d);
    let o = yingji(&[
        "run",
        "policies",
        "plans",
        "--events",
        s(&events),
        "--until",
        "2024-07-29T03:10:00+08:00",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("2024-07-29T03:10:00+08:00") && err.contains("2024-07-29T03:30:00+08:00"),
        "names both times: {err}"
    );
    assert!(
        flood_escalations(&outputs(&o.stdout)).is_empty(),
        "nothing released after the refusal"
    );

    // against a restored clock: refused before anything is read or written
    let (out, state) = (d.join("out.jsonl"), d.join("state"));
    let o = yingji(&run_args(s(&events), s(&out), s(&state)));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (out_before, state_before) = (std::fs::read(&out).unwrap(), std::fs::read(&state).unwrap());
    let mut args = run_args(s(&events), s(&out), s(&state));
    args.extend(["--until", "2024-07-29T03:10:00+08:00"]);
    let o = yingji(&args);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("2024-07-29T03:10:00+08:00") && err.contains("2024-07-29T03:30:00+08:00"),
        "{err}"
    );
    assert_eq!(std::fs::read(&out).unwrap(), out_before);
    assert_eq!(std::fs::read(&state).unwrap(), state_before);
}

#[test]
fn clock_wall_is_refused_on_a_plain_file() {
    let o = yingji(&[
        "run",
        "policies",
        "--events",
        "samples/rain.jsonl",
        "--clock",
        "wall",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("--clock wall needs a live feed") && err.contains("--follow"),
        "{err}"
    );
}

/// Definitions with a 2-second 叫应 tier and a 2-second absence, for live tests.
fn live_defs(d: &Path) -> PathBuf {
    let defs = d.join("defs");
    std::fs::create_dir_all(&defs).unwrap();
    std::fs::write(
        defs.join("rain.yj"),
        "event rain { station: string, town: string, mm: number }\n\
         signal 暴雨预警 { from rain key station level red when mm >= 10 }\n\
         signal 失联 { from rain key station missing 2s }\n",
    )
    .unwrap();
    std::fs::write(
        defs.join("plan.yaml"),
        "plan: 测试预案\n\
         triggers:\n  - { signal: 暴雨预警, level: red, area: town }\n\
         steps:\n  - id: 叫应\n    notify: chain/测试叫应\n  - id: 监视\n    wait: { until: \"level < yellow\" }\n  - id: 结束\n    close: { verify: [预警] }\n\
         chains:\n  测试叫应:\n    - { tier: 县防汛负责人, timeout: 2s }\n    - { tier: 乡镇主要负责人, timeout: 2s, fallback: [县应急值班室] }\n",
    )
    .unwrap();
    std::fs::write(
        defs.join("roster.yaml"),
        "roster: 名册\nareas:\n  本县: [南溪镇]\npeople:\n\
         \x20 - { id: C001, name: 甲, role: 县防汛负责人, area: 本县, channels: [电话] }\n\
         \x20 - { id: C002, name: 丙, role: 县应急值班室, area: 本县, channels: [电话] }\n\
         \x20 - { id: NX01, name: 乙, role: 乡镇主要负责人, area: 南溪镇, channels: [电话] }\n",
    )
    .unwrap();
    defs
}

/// Starts `yingji run DEFS --events - --clock wall --lateness 1s`, writes one
/// red reading stamped now, keeps the pipe open, and collects output lines
/// (with their arrival) until `done` says so or `limit` passes.
fn live_run(
    d: &Path,
    done: impl Fn(&[serde_json::Value]) -> bool,
    limit: Duration,
) -> (Vec<(Duration, serde_json::Value)>, Timestamp) {
    let defs = live_defs(d);
    let mut child = Command::new(BIN)
        .args([
            "run",
            s(&defs),
            "--events",
            "-",
            "--clock",
            "wall",
            "--lateness",
            "1s",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let now = Timestamp {
        ms: ms - ms % 1000,
        offset_min: 480,
    };
    let mut stdin = child.stdin.take().unwrap();
    writeln!(
        stdin,
        r#"{{"ts":"{now}","kind":"rain","station":"A","town":"南溪镇","mm":20}}"#
    )
    .unwrap();
    stdin.flush().unwrap();
    let started = Instant::now();
    // read on a thread so the test cannot hang on a silent pipe
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut got: Vec<(Duration, serde_json::Value)> = Vec::new();
    while started.elapsed() < limit {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => got.push((started.elapsed(), serde_json::from_str(&line).unwrap())),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
        let values: Vec<serde_json::Value> = got.iter().map(|(_, v)| v.clone()).collect();
        if done(&values) {
            break;
        }
    }
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    (got, now)
}

#[test]
fn clock_wall_on_stdin_reports_an_absence_while_the_feed_is_silent() {
    let d = dir("wall-absence");
    let (got, now) = live_run(
        &d,
        |v| v.iter().any(|o| o["type"] == "absence"),
        Duration::from_secs(10),
    );
    let absence = got
        .iter()
        .find(|(_, o)| o["type"] == "absence")
        .unwrap_or_else(|| panic!("no absence while the pipe stayed open: {got:?}"));
    assert_eq!(absence.1["ts"], now.plus_ms(2000).to_string());
    // due 2 s after the reading, out once the lateness (1 s) and a tick (1 s) have passed
    assert!(
        absence.0 < Duration::from_secs(6),
        "came out after {:?}",
        absence.0
    );
}

#[test]
fn clock_wall_on_stdin_escalates_an_unanswered_call_while_the_feed_is_silent() {
    let d = dir("wall-escalation");
    let (got, now) = live_run(
        &d,
        |v| v.iter().any(|o| o["type"] == "escalated"),
        Duration::from_secs(10),
    );
    let esc = got
        .iter()
        .find(|(_, o)| o["type"] == "escalated")
        .unwrap_or_else(|| panic!("no escalation while the pipe stayed open: {got:?}"));
    assert_eq!(esc.1["ts"], now.plus_ms(2000).to_string());
    assert!(esc.0 < Duration::from_secs(6), "came out after {:?}", esc.0);
}

#[test]
fn stdin_with_a_state_says_where_to_resume_and_numbers_on() {
    let d = dir("stdin");
    let sample =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/rain.jsonl"))
            .unwrap();
    let lines: Vec<&str> = sample.lines().collect();
    let (a, b) = lines.split_at(2000);
    let (a, b) = (a.join("\n") + "\n", b.join("\n") + "\n");
    let state = d.join("state");
    let whole = yingji(&["run", "policies", "--events", "samples/rain.jsonl"]);
    let feed = |text: &str, extra: &[&str]| -> Output {
        let mut args = vec!["run", "policies", "--events", "-", "--state", s(&state)];
        args.extend_from_slice(extra);
        let mut child = Command::new(BIN)
            .args(&args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let o1 = feed(&a, &[]);
    assert_eq!(o1.status.code(), Some(0), "{}", stderr(&o1));
    assert!(
        stderr(&o1).contains(&format!("resume stdin from line 2001, byte {}", a.len())),
        "{}",
        stderr(&o1)
    );
    let o2 = feed(&b, &["--final"]);
    assert_eq!(o2.status.code(), Some(0), "{}", stderr(&o2));
    assert!(
        stderr(&o2).contains("feed it from line 2001"),
        "{}",
        stderr(&o2)
    );
    assert!(
        stderr(&o2).contains(&format!(
            "resume stdin from line {}, byte {}",
            lines.len() + 1,
            sample.len()
        )),
        "{}",
        stderr(&o2)
    );
    // line numbers go on: the split run is the whole run, `event` numbers included
    let mut split = o1.stdout.clone();
    split.extend_from_slice(&o2.stdout);
    assert!(!whole.stdout.is_empty());
    assert!(
        split == whole.stdout,
        "split stdin run differs from one run"
    );
}

#[test]
fn follow_reads_lines_appended_to_a_growing_file() {
    let d = dir("follow");
    let events = d.join("growing.jsonl");
    std::fs::write(
        &events,
        concat!(
            r#"{"ts":"2024-07-29T03:00:00+08:00","kind":"rain","station":"YY-001","town":"南溪镇","mm":30}"#,
            "\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args([
            "run",
            "policies/rainstorm.yj",
            "--events",
            s(&events),
            "--follow",
            "--lateness",
            "0s",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // at the end of the file the run waits instead of ending
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        child.try_wait().unwrap().is_none(),
        "--follow ended at the end of the file"
    );
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&events)
        .unwrap();
    // a line written in two pieces is read once it is whole
    f.write_all(br#"{"ts":"2024-07-29T03:30:00+08:00","kind":"rain","#)
        .unwrap();
    f.flush().unwrap();
    std::thread::sleep(Duration::from_millis(400));
    f.write_all(
        b"\"station\":\"YY-001\",\"town\":\"\xe9\x9d\x92\xe9\xbe\x99\xe9\x95\x87\",\"mm\":25}\n",
    )
    .unwrap();
    // on the event clock the instant 03:30 is complete once the clock has
    // passed it: the gauge's next reading moves it on
    f.write_all(
        concat!(
            r#"{"ts":"2024-07-29T03:31:00+08:00","kind":"rain","station":"YY-001","town":"南溪镇","mm":0}"#,
            "\n"
        )
        .as_bytes(),
    )
    .unwrap();
    drop(f);
    let got = rx.recv_timeout(Duration::from_secs(10));
    let _ = child.kill();
    let _ = child.wait();
    let line = got.expect("the appended line was followed");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        (v["to"].as_str(), v["event"].as_u64()),
        (Some("orange"), Some(2)),
        "{line}"
    );
}
