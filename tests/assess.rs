//! Assessments, accident grading and reporting deadlines: the policies in
//! `policies/`, the sample records, every bad input named in issue 5, and the
//! `yingji assess` command.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::process::Command;
use yingji::unstable::dsl::assess::{AssessLoaded, load};
use yingji::unstable::dsl::load::{FsLoader, MemLoader};
use yingji::unstable::engine::Timestamp;
use yingji::unstable::engine::assess::AssessProgram;
use yingji::unstable::engine::assess::deadline::{DeadlineOutput, Status, Tracker, check_batch};
use yingji::unstable::engine::assess::eval::{Report, UnitResult, run};
use yingji::unstable::engine::assess::records::{
    Record, RecordError, grade, parse_record, read_records,
};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn policies() -> AssessProgram {
    let l = load(&FsLoader(vec![format!("{ROOT}/policies").into()]));
    assert!(!l.loaded.has_errors(), "{}", l.loaded.render());
    l.program
}

fn mem(text: &str) -> AssessLoaded {
    load(&MemLoader(vec![("a.yj".into(), text.into())]))
}

fn sample() -> (AssessProgram, Report) {
    let p = policies();
    let text = std::fs::read_to_string(format!("{ROOT}/samples/records.jsonl")).unwrap();
    let set = read_records(&p, &text);
    assert!(set.rejected.is_empty(), "{:?}", set.rejected);
    let report = run(&p, &set.records, None, None).unwrap();
    (p, report)
}

fn unit<'a>(r: &'a Report, name: &str) -> &'a UnitResult {
    r.assessments[0]
        .units
        .iter()
        .find(|u| u.unit.as_ref() == name)
        .unwrap()
}

/// The grade name the policy gives an accident with these members.
fn grade_of(p: &AssessProgram, members: &str) -> String {
    let line = format!(
        r#"{{"kind":"accident","id":"A","unit":"南溪镇","ts":"2024-05-01T10:00:00+08:00","category":"其他",{members}}}"#
    );
    let mut r = parse_record(p, &line, 1).unwrap_or_else(|e| panic!("{members}: {e}"));
    grade(p, &mut r);
    let g = &p.gradings[0];
    let rank = r.fields[usize::from(g.slot)].as_num().unwrap() as u8;
    g.grade_name(rank).to_string()
}

#[test]
fn order_493_every_boundary() {
    let p = policies();
    let cases = [
        // deaths: 2/3, 9/10, 29/30
        ("\"deaths\":2,\"serious_injuries\":0,\"loss_wan\":0", "一般"),
        ("\"deaths\":3,\"serious_injuries\":0,\"loss_wan\":0", "较大"),
        ("\"deaths\":9,\"serious_injuries\":0,\"loss_wan\":0", "较大"),
        (
            "\"deaths\":10,\"serious_injuries\":0,\"loss_wan\":0",
            "重大",
        ),
        (
            "\"deaths\":29,\"serious_injuries\":0,\"loss_wan\":0",
            "重大",
        ),
        (
            "\"deaths\":30,\"serious_injuries\":0,\"loss_wan\":0",
            "特别重大",
        ),
        // serious injuries: 9/10, 49/50, 99/100
        ("\"deaths\":0,\"serious_injuries\":9,\"loss_wan\":0", "一般"),
        (
            "\"deaths\":0,\"serious_injuries\":10,\"loss_wan\":0",
            "较大",
        ),
        (
            "\"deaths\":0,\"serious_injuries\":49,\"loss_wan\":0",
            "较大",
        ),
        (
            "\"deaths\":0,\"serious_injuries\":50,\"loss_wan\":0",
            "重大",
        ),
        (
            "\"deaths\":0,\"serious_injuries\":99,\"loss_wan\":0",
            "重大",
        ),
        (
            "\"deaths\":0,\"serious_injuries\":100,\"loss_wan\":0",
            "特别重大",
        ),
        // loss in 元: one yuan below and exactly 1000万, 5000万, 1亿
        (
            "\"deaths\":0,\"serious_injuries\":0,\"loss_yuan\":9999999",
            "一般",
        ),
        (
            "\"deaths\":0,\"serious_injuries\":0,\"loss_yuan\":10000000",
            "较大",
        ),
        (
            "\"deaths\":0,\"serious_injuries\":0,\"loss_yuan\":49999999",
            "较大",
        ),
        (
            "\"deaths\":0,\"serious_injuries\":0,\"loss_yuan\":50000000",
            "重大",
        ),
        (
            "\"deaths\":0,\"serious_injuries\":0,\"loss_yuan\":99999999",
            "重大",
        ),
        (
            "\"deaths\":0,\"serious_injuries\":0,\"loss_yuan\":100000000",
            "特别重大",
        ),
        // the same bounds in 万元
        (
            "\"deaths\":0,\"serious_injuries\":0,\"loss_wan\":999.99",
            "一般",
        ),
        (
            "\"deaths\":0,\"serious_injuries\":0,\"loss_wan\":1000",
            "较大",
        ),
        (
            "\"deaths\":0,\"serious_injuries\":0,\"loss_wan\":5000",
            "重大",
        ),
        (
            "\"deaths\":0,\"serious_injuries\":0,\"loss_wan\":10000",
            "特别重大",
        ),
        // the most severe axis wins
        (
            "\"deaths\":1,\"serious_injuries\":12,\"loss_wan\":5000",
            "重大",
        ),
        (
            "\"deaths\":30,\"serious_injuries\":0,\"loss_wan\":1",
            "特别重大",
        ),
    ];
    for (members, want) in cases {
        assert_eq!(grade_of(&p, members), want, "{members}");
    }
}

fn accident_line(members: &str) -> String {
    format!(
        r#"{{"kind":"accident","id":"A-1","ts":"2024-05-01T10:00:00+08:00","category":"其他",{members}}}"#
    )
}

#[test]
fn bad_records_are_refused_with_their_reason() {
    let p = policies();
    let line = |unit: &str, rest: &str| accident_line(&format!("{unit}{rest}"));
    let cases: Vec<(String, RecordError)> = vec![
        (
            line("", "\"deaths\":0,\"serious_injuries\":0,\"loss_wan\":1"),
            RecordError::Missing("unit"),
        ),
        (
            line(
                "\"unit\":\"南溪镇\",",
                "\"deaths\":-1,\"serious_injuries\":0,\"loss_wan\":1",
            ),
            RecordError::Negative {
                field: "deaths".into(),
                value: -1.0,
            },
        ),
        (
            line(
                "\"unit\":\"南溪镇\",",
                "\"deaths\":0,\"serious_injuries\":0,\"loss\":1200",
            ),
            RecordError::AmbiguousMoney {
                written: "loss".into(),
                base: "loss".into(),
            },
        ),
        (
            line(
                "\"unit\":\"南溪镇\",",
                "\"deaths\":0,\"serious_injuries\":0,\"loss\":1200,\"loss_wan\":1200",
            ),
            RecordError::AmbiguousMoney {
                written: "loss".into(),
                base: "loss".into(),
            },
        ),
        (
            line(
                "\"unit\":\"南溪镇\",",
                "\"deaths\":0,\"serious_injuries\":0,\"loss_yuan\":12000000,\"loss_wan\":1200",
            ),
            RecordError::BothMoneyUnits {
                base: "loss".into(),
            },
        ),
        (
            line(
                "\"unit\":\"南溪镇\",",
                "\"deaths\":\"3\",\"serious_injuries\":0,\"loss_wan\":1",
            ),
            RecordError::WrongType {
                kind: "accident".into(),
                field: "deaths".into(),
                expected: yingji::unstable::engine::value::Type::Number,
                got: "the string \"3\"".into(),
            },
        ),
        (
            line(
                "\"unit\":\"南溪镇\",",
                "\"serious_injuries\":0,\"loss_wan\":1",
            ),
            RecordError::MissingField {
                kind: "accident".into(),
                field: "deaths".into(),
            },
        ),
        (
            r#"{"kind":"report_late","id":"x","unit":"南溪镇","ts":"2024-05-01T10:00:00+08:00"}"#
                .into(),
            RecordError::DerivedKind("report_late".into()),
        ),
        (
            r#"{"kind":"acident","id":"x","unit":"南溪镇","ts":"2024-05-01T10:00:00+08:00"}"#
                .into(),
            RecordError::UnknownKind("acident".into()),
        ),
    ];
    for (text, want) in cases {
        assert_eq!(parse_record(&p, &text, 7), Err(want), "{text}");
    }
    // the message tells the author what to write
    let e = parse_record(
        &p,
        &line(
            "\"unit\":\"南溪镇\",",
            "\"deaths\":0,\"serious_injuries\":0,\"loss\":5",
        ),
        1,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "`loss` is ambiguous: write `loss_yuan` (元) or `loss_wan` (万元)"
    );
    // a file: refused lines are counted by line, the rest are kept; ids are unique
    let file = [
        line(
            "\"unit\":\"南溪镇\",",
            "\"deaths\":0,\"serious_injuries\":0,\"loss_wan\":1",
        ),
        String::new(),
        line(
            "\"unit\":\"南溪镇\",",
            "\"deaths\":0,\"serious_injuries\":0,\"loss_wan\":2",
        ),
        "not json".into(),
    ]
    .join("\n");
    let set = read_records(&p, &file);
    assert_eq!(set.records.len(), 1);
    assert_eq!(set.rejected.len(), 2);
    assert_eq!(set.rejected[0].line, 3);
    assert_eq!(
        set.rejected[0].error,
        RecordError::DuplicateId {
            id: "A-1".into(),
            first: 1
        }
    );
    assert_eq!(set.rejected[1].line, 4);
}

#[test]
fn yuan_and_wan_mean_the_same_amount() {
    let p = policies();
    let slot = usize::from(p.slot("loss_wan").unwrap());
    let a = parse_record(
        &p,
        &accident_line(
            "\"unit\":\"南溪镇\",\"deaths\":0,\"serious_injuries\":0,\"loss_yuan\":12000000",
        ),
        1,
    )
    .unwrap();
    let b = parse_record(
        &p,
        &accident_line("\"unit\":\"南溪镇\",\"deaths\":0,\"serious_injuries\":0,\"loss_wan\":1200"),
        1,
    )
    .unwrap();
    assert_eq!(a.fields[slot].as_num(), Some(1200.0));
    assert_eq!(a.fields, b.fields);
}

const MINI: &str = r#"
event accident { deaths: number, serious_injuries: number, loss_wan: number, concealed: bool? }
grading 事故等级 of accident as grade {
  grade 较大 when deaths >= 3 or serious_injuries >= 10 or loss_wan >= 1000
  else 一般
}
event check { passed: bool }
roster township { 甲镇, 乙镇 }
assessment 考核 for township per year {
  total 100
  score 检查 weight 100 = 100 * count(check where passed) / count(check) else 100
  veto "较大事故" when count(accident where grade >= 较大) >= 1
  veto "瞒报或多起事故" when any(accident where concealed) or count(accident) >= 3
  grade 优秀 >= 90, 合格 >= 60, else 不合格
}
"#;

fn rec(kind: &str, id: &str, unit: &str, ts: &str, rest: &str) -> String {
    format!(r#"{{"kind":"{kind}","id":"{id}","unit":"{unit}","ts":"{ts}"{rest}}}"#)
}

#[test]
fn a_vetoed_unit_with_a_perfect_score_fails_and_evidence_is_exactly_the_cause() {
    let l = mem(MINI);
    assert!(!l.loaded.has_errors(), "{}", l.loaded.render());
    let p = l.program;
    let lines = [
        rec(
            "check",
            "C1",
            "甲镇",
            "2024-02-01T09:00:00+08:00",
            r#","passed":true"#,
        ),
        rec(
            "accident",
            "A1",
            "甲镇",
            "2024-03-01T09:00:00+08:00",
            r#","deaths":0,"serious_injuries":0,"loss_wan":5"#,
        ),
        rec(
            "accident",
            "A2",
            "甲镇",
            "2024-04-01T09:00:00+08:00",
            r#","deaths":3,"serious_injuries":0,"loss_wan":5"#,
        ),
        rec(
            "accident",
            "A3",
            "甲镇",
            "2024-05-01T09:00:00+08:00",
            r#","deaths":0,"serious_injuries":0,"loss_yuan":10000000"#,
        ),
        rec(
            "accident",
            "A4",
            "乙镇",
            "2024-05-01T09:00:00+08:00",
            r#","deaths":1,"serious_injuries":0,"loss_wan":5,"concealed":true"#,
        ),
        rec(
            "check",
            "C2",
            "乙镇",
            "2024-06-01T09:00:00+08:00",
            r#","passed":false"#,
        ),
        rec(
            "check",
            "C3",
            "乙镇",
            "2024-06-02T09:00:00+08:00",
            r#","passed":true"#,
        ),
        rec(
            "accident",
            "A5",
            "丙镇",
            "2024-05-01T09:00:00+08:00",
            r#","deaths":0,"serious_injuries":0,"loss_wan":5"#,
        ),
    ]
    .join("\n");
    let set = read_records(&p, &lines);
    assert!(set.rejected.is_empty(), "{:?}", set.rejected);
    let r = run(&p, &set.records, Some("2024"), None).unwrap();
    let a = &r.assessments[0];
    let jia = &a.units[0];
    assert_eq!(
        (jia.unit.as_ref(), jia.score, jia.score_grade.as_ref()),
        ("甲镇", 100.0, "优秀")
    );
    assert!(jia.vetoed);
    assert_eq!(jia.grade.as_ref(), "不合格");
    // A1 is a 一般 accident: not evidence; A2 (deaths) and A3 (loss) are
    assert_eq!(jia.vetoes.len(), 2);
    assert_eq!(jia.vetoes[0].name.as_ref(), "较大事故");
    assert_eq!(
        jia.vetoes[0]
            .evidence
            .iter()
            .map(|e| e.as_ref())
            .collect::<Vec<_>>(),
        ["A2", "A3"]
    );
    // `count(accident) >= 3` holds (3 accidents); `any(concealed)` does not and adds nothing
    assert_eq!(
        jia.vetoes[1]
            .evidence
            .iter()
            .map(|e| e.as_ref())
            .collect::<Vec<_>>(),
        ["A1", "A2", "A3"]
    );
    let yi = &a.units[1];
    assert_eq!((yi.score, yi.grade.as_ref()), (50.0, "不合格"));
    assert_eq!(yi.vetoes.len(), 1);
    assert_eq!(
        yi.vetoes[0]
            .evidence
            .iter()
            .map(|e| e.as_ref())
            .collect::<Vec<_>>(),
        ["A4"]
    );
    // 丙镇 is in the records but not on the roster: reported, not assessed
    assert_eq!(a.units.len(), 2);
    assert_eq!(a.unknown_units.len(), 1);
    assert_eq!(
        (
            a.unknown_units[0].unit.as_ref(),
            a.unknown_units[0].records,
            a.unknown_units[0].first_line
        ),
        ("丙镇", 1, 8)
    );
}

#[test]
fn weights_that_do_not_add_up_warn() {
    let text = MINI.replace("score 检查 weight 100", "score 检查 weight 90");
    let l = mem(&text);
    assert!(!l.loaded.has_errors(), "{}", l.loaded.render());
    let warnings: Vec<_> = l
        .loaded
        .diagnostics
        .iter()
        .filter(|d| d.code == "W0601")
        .collect();
    assert_eq!(warnings.len(), 1);
    assert_eq!(
        warnings[0].message,
        "the weights add up to 90, but the declared total is 100"
    );
    assert_eq!(l.loaded.sources.location(warnings[0].span), "a.yj:10:9");
}

#[test]
fn a_veto_on_a_field_no_record_kind_has_is_an_error_at_check_time() {
    let text = MINI.replace(
        "any(accident where concealed)",
        "any(accident where falsified)",
    );
    let l = mem(&text);
    assert!(l.loaded.has_errors());
    let errors: Vec<_> = l
        .loaded
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    assert_eq!(errors.len(), 1, "{}", l.loaded.render());
    assert_eq!(errors[0].code, "E0101");
    assert_eq!(
        errors[0].message,
        "unknown field `falsified`: no record kind has a field `falsified`"
    );
    assert_eq!(l.loaded.sources.location(errors[0].span), "a.yj:13:42");
    // the facade refuses the definitions too (so `yingji check` fails)
    assert!(yingji::Definitions::from_str("a.yj", &text).is_err());
    // a field of another kind is named as such
    let text = MINI.replace(
        "any(accident where concealed)",
        "any(accident where passed)",
    );
    let l = mem(&text);
    let e = l.loaded.diagnostics.iter().find(|d| d.is_error()).unwrap();
    assert_eq!(e.message, "`passed` is not a field of `accident` records");
    assert_eq!(e.label, "a field of `check` records");
}

#[test]
fn other_definition_errors_point_at_their_place() {
    let cases = [
        (
            MINI.replace("per year", "per decade"),
            "E0601",
            "unknown period `decade`",
        ),
        (
            MINI.replace("合格 >= 60", "合格 >= 95"),
            "E0601",
            "bands must go from the highest minimum down: `合格` >= 95 comes after `优秀` >= 90",
        ),
        (
            MINI.replace("count(check where passed)", "count(check.passed)"),
            "E0103",
            "`count` counts records, not a field's values",
        ),
        (
            MINI.replace(
                "count(accident where grade >= 较大) >= 1",
                "count(accident where grade >= 较大)",
            ),
            "E0201",
            "a veto condition must be a bool, but this is a number",
        ),
        (
            MINI.replace("count(check where passed)", "count(checks where passed)")
                .replace("count(check)", "count(chek)"),
            "E0102",
            "no record kind `chek` is declared",
        ),
    ];
    for (text, code, message) in cases {
        let l = mem(&text);
        let errors: Vec<_> = l
            .loaded
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .collect();
        assert_eq!(errors.len(), 1, "{message}: {}", l.loaded.render());
        assert_eq!(
            (errors[0].code, errors[0].message.as_str()),
            (code, message)
        );
    }
}

const DEADLINES: &str = r#"
event accident { deaths: number }
event report { about: string, stage: string }
deadlines 报送 for accident {
  reported by report.about
  due 单位报县 within 1h
  due 县报市 within 2h after 单位报县
}
event disaster { dead_missing: number }
deadlines 灾情 for disaster {
  reported by report.about
  repeat 零报告 every 24h at "09:00" until 灾情稳定
}
"#;

fn deadline_program() -> AssessProgram {
    let l = mem(DEADLINES);
    assert!(!l.loaded.has_errors(), "{}", l.loaded.render());
    l.program
}

fn records(p: &AssessProgram, lines: &[String]) -> Vec<Record> {
    let set = read_records(p, &lines.join("\n"));
    assert!(set.rejected.is_empty(), "{:?}", set.rejected);
    set.records
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

#[test]
fn deadlines_met_late_by_one_second_and_missing() {
    let p = deadline_program();
    let acc = |id: &str| {
        rec(
            "accident",
            id,
            "南溪镇",
            "2024-05-01T10:00:00+08:00",
            r#","deaths":0"#,
        )
    };
    let report = |id: &str, about: &str, t: &str, stage: &str| {
        rec(
            "report",
            id,
            "南溪镇",
            t,
            &format!(r#","about":"{about}","stage":"{stage}""#),
        )
    };
    let rs = records(
        &p,
        &[
            acc("ON"),
            report("R1", "ON", "2024-05-01T11:00:00+08:00", "单位报县"), // exactly at the deadline
            report("R2", "ON", "2024-05-01T13:00:00+08:00", "县报市"),   // exactly 2h after R1
            acc("LATE"),
            report("R3", "LATE", "2024-05-01T11:00:01+08:00", "单位报县"), // one second late
            report("R4", "LATE", "2024-05-01T13:00:00+08:00", "县报市"), // counted from R3's deadline: on time
            acc("NONE"),
        ],
    );
    let checks = check_batch(&p, &rs, ts("2024-05-02T00:00:00+08:00"));
    let got: Vec<(&str, &str, &Status)> = checks
        .iter()
        .map(|c| (c.subject.as_ref(), c.stage.as_ref(), &c.status))
        .collect();
    assert_eq!(got.len(), 6);
    assert_eq!(
        got[0],
        (
            "ON",
            "单位报县",
            &Status::Met {
                report: "R1".into(),
                received: ts("2024-05-01T11:00:00+08:00")
            }
        )
    );
    assert_eq!(
        got[1],
        (
            "ON",
            "县报市",
            &Status::Met {
                report: "R2".into(),
                received: ts("2024-05-01T13:00:00+08:00")
            }
        )
    );
    assert_eq!(
        got[2],
        (
            "LATE",
            "单位报县",
            &Status::Late {
                report: "R3".into(),
                received: ts("2024-05-01T11:00:01+08:00"),
                late_by_ms: 1000
            }
        )
    );
    assert_eq!(
        got[3].2,
        &Status::Met {
            report: "R4".into(),
            received: ts("2024-05-01T13:00:00+08:00")
        }
    );
    assert_eq!(checks[3].due, ts("2024-05-01T13:00:00+08:00"));
    assert_eq!(got[4], ("NONE", "单位报县", &Status::Missing));
    assert_eq!(got[5], ("NONE", "县报市", &Status::Missing));
    assert_eq!(checks[5].due, ts("2024-05-01T13:00:00+08:00"));
    // the outputs: every due, the late one by "1s", the missing ones
    let outs = yingji::unstable::engine::assess::deadline::outputs(&checks);
    let late: Vec<String> = outs
        .iter()
        .filter(|o| o.type_name() == "report_late")
        .map(DeadlineOutput::to_json)
        .collect();
    assert_eq!(late.len(), 1);
    assert!(
        late[0].contains(r#""late_by_ms":1000"#) && late[0].contains(r#""late_by":"1s""#),
        "{}",
        late[0]
    );
    assert_eq!(
        outs.iter()
            .filter(|o| o.type_name() == "report_due")
            .count(),
        6
    );
    assert_eq!(
        outs.iter()
            .filter(|o| o.type_name() == "report_missing")
            .count(),
        2
    );
    // exactly at the deadline nothing is missing yet; one millisecond later it is
    let at_due = check_batch(&p, &rs[6..], ts("2024-05-01T11:00:00+08:00"));
    assert_eq!(
        at_due.iter().map(|c| &c.status).collect::<Vec<_>>(),
        [&Status::Pending]
    );
    let after = check_batch(&p, &rs[6..], ts("2024-05-01T11:00:00.001+08:00"));
    assert_eq!(after[0].status, Status::Missing);
}

#[test]
fn live_deadlines_fire_at_the_deadline_and_agree_with_batch() {
    let p = deadline_program();
    let rs = records(
        &p,
        &[
            rec(
                "accident",
                "A",
                "南溪镇",
                "2024-05-01T10:00:00+08:00",
                r#","deaths":0"#,
            ),
            rec(
                "report",
                "R1",
                "南溪镇",
                "2024-05-01T11:30:00+08:00",
                r#","about":"A","stage":"单位报县""#,
            ),
        ],
    );
    let mut t = Tracker::new(p.clone());
    let mut out = Vec::new();
    t.observe(&rs[0], &mut out);
    assert_eq!(
        out.iter()
            .map(DeadlineOutput::type_name)
            .collect::<Vec<_>>(),
        ["report_due"]
    );
    out.clear();
    let due = ts("2024-05-01T11:00:00+08:00").ms;
    t.advance(due, &mut out);
    assert!(
        out.is_empty(),
        "not missing at the deadline itself: {out:?}"
    );
    t.advance(due + 1, &mut out);
    assert_eq!(
        out.iter()
            .map(DeadlineOutput::type_name)
            .collect::<Vec<_>>(),
        ["report_missing", "report_due"]
    );
    assert_eq!(out[0].check().stage.as_ref(), "单位报县");
    assert_eq!(out[1].check().stage.as_ref(), "县报市");
    assert_eq!(out[1].check().due, ts("2024-05-01T13:00:00+08:00"));
    out.clear();
    t.observe(&rs[1], &mut out);
    assert_eq!(out.len(), 1);
    let DeadlineOutput::ReportLate(n) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(
        (n.late_by.as_deref(), n.check.evidence_id().as_ref()),
        (Some("30m"), "R1")
    );
    out.clear();
    t.advance(ts("2024-05-01T13:00:00.001+08:00").ms, &mut out);
    assert_eq!(
        out.iter()
            .map(DeadlineOutput::type_name)
            .collect::<Vec<_>>(),
        ["report_missing"]
    );
    // batch over the same records at the same time ends in the same statuses
    let batch = check_batch(&p, &rs, ts("2024-05-01T13:00:00.001+08:00"));
    assert!(matches!(
        batch[0].status,
        Status::Late {
            late_by_ms: 1_800_000,
            ..
        }
    ));
    assert_eq!(batch[1].status, Status::Missing);
}

#[test]
fn daily_reports_at_nine_until_stable() {
    let p = deadline_program();
    let z = |rest: &[(&str, &str, &str)]| {
        let mut v = vec![rec(
            "disaster",
            "Z",
            "盘龙街道",
            "2024-07-10T14:00:00+08:00",
            r#","dead_missing":0"#,
        )];
        v.extend(rest.iter().map(|(id, t, stage)| {
            rec(
                "report",
                id,
                "盘龙街道",
                t,
                &format!(r#","about":"Z","stage":"{stage}""#),
            )
        }));
        v
    };
    let rs = records(
        &p,
        &z(&[
            ("R1", "2024-07-11T09:00:00+08:00", "零报告"),
            ("R2", "2024-07-13T08:00:00+08:00", "零报告"),
            ("R3", "2024-07-13T10:00:00+08:00", "灾情稳定"),
        ]),
    );
    let checks = check_batch(&p, &rs, ts("2024-07-20T00:00:00+08:00"));
    let got: Vec<(Option<u32>, String, &Status)> = checks
        .iter()
        .map(|c| (c.occurrence, c.due.to_string(), &c.status))
        .collect();
    assert_eq!(got.len(), 3);
    assert_eq!(
        (got[0].0, got[0].1.as_str()),
        (Some(1), "2024-07-11T09:00:00+08:00")
    );
    assert!(matches!(got[0].2, Status::Met { .. }));
    assert_eq!(
        (got[1].0, got[1].1.as_str(), got[1].2),
        (Some(2), "2024-07-12T09:00:00+08:00", &Status::Missing)
    );
    assert!(matches!(got[2].2, Status::Met { .. }));
}

#[test]
fn the_sample_county() {
    let (_, r) = sample();
    let a = &r.assessments[0];
    assert_eq!(a.period.to_string(), "2024");
    assert_eq!(a.units.len(), 12);
    assert!(a.unknown_units.is_empty());
    let want = [
        ("双江街道", 100.0, "优秀", &[][..]),
        (
            "青龙街道",
            100.0,
            "不合格",
            &[("较大及以上事故", &["A-2024-002"][..])][..],
        ),
        ("人和街道", 44.875, "不合格", &[][..]),
        (
            "盘龙街道",
            100.0,
            "不合格",
            &[("因灾亡人责任事件", &["Z-2024-001"][..])][..],
        ),
        (
            "南溪镇",
            93.208333,
            "不合格",
            &[("事故亡人数上升", &["A-2024-004"][..])][..],
        ),
        (
            "江口镇",
            86.875,
            "不合格",
            &[("瞒报谎报", &["A-2024-005"][..])][..],
        ),
        ("龙角镇", 84.673077, "良好", &[][..]),
        ("故陵镇", 67.875, "合格", &[][..]),
        ("高阳镇", 100.0, "优秀", &[][..]),
        (
            "平安镇",
            96.0,
            "不合格",
            &[("较大及以上事故", &["A-2024-007"][..])][..],
        ),
        ("凤鸣镇", 80.791667, "良好", &[][..]),
        ("宝坪镇", 67.5, "合格", &[][..]),
    ];
    for (name, score, grade, vetoes) in want {
        let u = unit(&r, name);
        assert!((u.score - score).abs() < 1e-6, "{name}: {}", u.score);
        assert_eq!(u.grade.as_ref(), grade, "{name}");
        let got: Vec<(&str, Vec<&str>)> = u
            .vetoes
            .iter()
            .map(|v| {
                (
                    v.name.as_ref(),
                    v.evidence.iter().map(|e| e.as_ref()).collect(),
                )
            })
            .collect();
        let want: Vec<(&str, Vec<&str>)> = vetoes.iter().map(|(n, e)| (*n, e.to_vec())).collect();
        assert_eq!(got, want, "{name}");
    }
    // deductions come from the deadlines: 故陵镇 one late report, 凤鸣镇 one missing follow-up
    let deduct = |name: &str| {
        unit(&r, name)
            .criteria
            .iter()
            .find(|c| c.name.as_ref() == "迟报漏报")
            .unwrap()
            .points
    };
    assert_eq!(
        (
            deduct("故陵镇"),
            deduct("凤鸣镇"),
            deduct("江口镇"),
            deduct("双江街道")
        ),
        (2.0, 5.0, 10.0, 0.0)
    );
    // 2023 is assessable too: 青龙街道's 4 deaths were a 较大 accident then
    let p = policies();
    let text = std::fs::read_to_string(format!("{ROOT}/samples/records.jsonl")).unwrap();
    let set = read_records(&p, &text);
    let r23 = run(&p, &set.records, Some("2023"), None).unwrap();
    assert_eq!(
        unit(&r23, "青龙街道").vetoes[0]
            .evidence
            .iter()
            .map(|e| e.as_ref())
            .collect::<Vec<_>>(),
        ["A-2023-002"]
    );
    assert!(run(&p, &set.records, Some("2024-07"), None).is_err());
}

#[test]
fn live_tracker_over_the_sample_matches_batch() {
    let p = policies();
    let text = std::fs::read_to_string(format!("{ROOT}/samples/records.jsonl")).unwrap();
    let mut rs = read_records(&p, &text).records;
    rs.sort_by_key(|r| (r.ts, r.line));
    let end = rs.iter().map(|r| r.ts).max().unwrap();
    let mut t = Tracker::new(p.clone());
    let mut out = Vec::new();
    for r in &rs {
        t.advance(r.ts.ms, &mut out);
        t.observe(r, &mut out);
    }
    t.advance(end.ms, &mut out);
    type Key = (String, String, Option<u32>, &'static str);
    let key = |o: &DeadlineOutput| -> Key {
        let c = o.check();
        (
            c.subject.to_string(),
            c.stage.to_string(),
            c.occurrence,
            o.type_name(),
        )
    };
    let mut live: Vec<Key> = out.iter().map(key).collect();
    live.sort();
    let batch_checks = check_batch(&p, &rs, end);
    let batch_outs = yingji::unstable::engine::assess::deadline::outputs(&batch_checks);
    let mut want: Vec<Key> = batch_outs.iter().map(key).collect();
    // live also said "missing" at each deadline whose report came late
    for c in batch_checks
        .iter()
        .filter(|c| matches!(c.status, Status::Late { .. }))
    {
        want.push((
            c.subject.to_string(),
            c.stage.to_string(),
            c.occurrence,
            "report_missing",
        ));
    }
    want.sort();
    let (live_due, live_rest): (Vec<Key>, Vec<Key>) =
        live.into_iter().partition(|k| k.3 == "report_due");
    let (want_due, want_rest): (Vec<Key>, Vec<Key>) =
        want.into_iter().partition(|k| k.3 == "report_due");
    assert_eq!(live_rest, want_rest);
    // live announces each follow-up when it becomes due; a closing report may
    // then end the series, which batch (knowing the future) never announces
    for d in &want_due {
        assert!(live_due.contains(d), "live lacks {d:?}");
    }
    let extra: Vec<&Key> = live_due.iter().filter(|d| !want_due.contains(d)).collect();
    assert!(
        extra.iter().all(|k| k.1 == "续报" || k.1 == "零报告"),
        "{extra:?}"
    );
    assert_eq!(
        batch_checks
            .iter()
            .filter(|c| matches!(c.status, Status::Late { .. }))
            .count(),
        3
    );
    assert_eq!(
        batch_checks
            .iter()
            .filter(|c| c.status == Status::Missing)
            .count(),
        6
    );
}

fn yingji(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_yingji"))
        .current_dir(ROOT)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn cli_check_accepts_the_policies() {
    let (code, _, err) = yingji(&["check", "policies"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn cli_table_is_aligned_by_display_width() {
    use unicode_width::UnicodeWidthStr;
    let (code, out, err) = yingji(&["assess", "policies", "--records", "samples/records.jsonl"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    let header = lines.iter().position(|l| l.starts_with("单位")).unwrap();
    let rows = &lines[header..header + 13];
    // the 总分 column ends at the same display column on every row
    // display width up to the end of the 8th cell (unit, six criteria, 总分); cells hold no spaces
    let end_of_score = |l: &str| {
        let mut cells = 0;
        let mut prev_space = true;
        for (i, ch) in l.char_indices() {
            if ch == ' ' && !prev_space && cells == 8 {
                return l[..i].width();
            }
            if ch != ' ' && prev_space {
                cells += 1;
            }
            prev_space = ch == ' ';
        }
        l.width()
    };
    let w = end_of_score(rows[0]);
    for r in rows {
        assert_eq!(end_of_score(r), w, "{r}");
    }
    assert!(out.contains("青龙街道  较大及以上事故: count(accident where grade >= 较大) >= 1  [policies/township_assessment.yj:"), "{out}");
    assert!(
        out.contains("evidence: A-2024-002  (score 100 would be 优秀)"),
        "{out}"
    );
    assert!(out.contains("late by 40m (R-"), "{out}");
}

#[test]
fn cli_json_and_csv() {
    let csv_path = std::env::temp_dir().join(format!("yingji-assess-{}.csv", std::process::id()));
    let csv_arg = csv_path.display().to_string();
    let (code, out, err) = yingji(&[
        "assess",
        "policies",
        "--records",
        "samples/records.jsonl",
        "--format",
        "json",
        "--csv",
        &csv_arg,
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let units = v["assessments"][0]["units"].as_array().unwrap();
    assert_eq!(units.len(), 12);
    let qinglong = units.iter().find(|u| u["unit"] == "青龙街道").unwrap();
    assert_eq!(qinglong["score"], 100);
    assert_eq!(qinglong["grade"], "不合格");
    assert_eq!(
        qinglong["vetoes"][0]["evidence"],
        serde_json::json!(["A-2024-002"])
    );
    assert!(
        v["deadlines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["status"] == "late" && c["late_by_ms"] == 2_400_000)
    );
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let _ = std::fs::remove_file(&csv_path);
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 13);
    assert_eq!(
        rows[0],
        "assessment,period,unit,应急岗位设置到位,安全职责落实到位,风险隐患排查到位,应急调度到位,考核督查到位,迟报漏报,score,vetoed,vetoes,evidence,grade"
    );
    assert_eq!(
        rows[2],
        "乡镇安全生产年度考核,2024,青龙街道,20,20,25,20,15,0,100,true,较大及以上事故,A-2024-002,不合格"
    );
}

#[test]
fn cli_reports_bad_records_and_unknown_units() {
    let path = std::env::temp_dir().join(format!("yingji-assess-bad-{}.jsonl", std::process::id()));
    let lines = [
        rec("accident", "A1", "南溪镇", "2024-05-01T10:00:00+08:00", r#","category":"其他","deaths":-1,"serious_injuries":0,"loss_wan":1"#),
        r#"{"kind":"accident","id":"A2","ts":"2024-05-01T10:00:00+08:00","category":"其他","deaths":0,"serious_injuries":0,"loss_wan":1}"#.to_string(),
        rec("accident", "A3", "南溪镇", "2024-05-01T10:00:00+08:00", r#","category":"其他","deaths":0,"serious_injuries":0,"loss":1"#),
        rec("post", "P1", "路阳镇", "2024-05-01T10:00:00+08:00", r#","role":"网格员","filled":true"#),
    ];
    std::fs::write(&path, lines.join("\n")).unwrap();
    let p = path.display().to_string();
    let (code, out, err) = yingji(&["assess", "policies", "--records", &p]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains(&format!(
            "{p}:1: rejected: field `deaths` is -1: counts and amounts cannot be negative"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("{p}:2: rejected: missing `unit`")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{p}:3: rejected: `loss` is ambiguous: write `loss_yuan` (元) or `loss_wan` (万元)"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{p}:4: unit `路阳镇` is not in the roster of `township` (1 record(s), not assessed)"
        )),
        "{err}"
    );
    assert!(
        out.contains("路阳镇  1 record(s), first on line 4"),
        "{out}"
    );
}

#[test]
fn cli_refuses_broken_definitions_with_location() {
    let dir = std::env::temp_dir().join(format!("yingji-assess-defs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("a.yj");
    std::fs::write(
        &f,
        MINI.replace(
            "any(accident where concealed)",
            "any(accident where falsified)",
        ),
    )
    .unwrap();
    let d = dir.display().to_string();
    let (code, _, err) = yingji(&["check", &d]);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("--> {}:13:42", f.display())), "{err}");
    let (code, _, err) = yingji(&["assess", &d, "--records", "samples/records.jsonl"]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 1);
    assert!(err.contains("unknown field `falsified`"), "{err}");
}

mod live_and_batch {
    use super::*;
    use proptest::prelude::*;

    const HOUR: i64 = 3_600_000;

    fn line(kind: &str, id: &str, ms: i64, rest: &str) -> (i64, String) {
        let t = Timestamp {
            ms,
            offset_min: 480,
        };
        (ms, rec(kind, id, "南溪镇", &t.to_string(), rest))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// Whatever the report times and however often the clock is advanced,
        /// the live tracker ends with the batch verdict (plus a "missing" at
        /// each deadline whose report came late).
        #[test]
        fn agree(
            county in proptest::option::of(0..4 * HOUR),
            city in proptest::option::of(0..6 * HOUR),
            zero in proptest::collection::vec(0..5 * 24 * HOUR, 0..5),
            stable in proptest::option::of(0..5 * 24 * HOUR),
            ticks in proptest::collection::vec(0..6 * 24 * HOUR, 0..10),
        ) {
            let p = deadline_program();
            let t0 = ts("2024-07-10T14:00:00+08:00").ms;
            let mut lines = vec![
                line("accident", "A", t0, r#","deaths":0"#),
                line("disaster", "Z", t0, r#","dead_missing":0"#),
            ];
            let report = |id: &str, about: &str, at: i64, stage: &str| {
                line("report", id, t0 + at, &format!(r#","about":"{about}","stage":"{stage}""#))
            };
            if let Some(d) = county { lines.push(report("R1", "A", d, "单位报县")); }
            if let Some(d) = city { lines.push(report("R2", "A", d, "县报市")); }
            for (i, d) in zero.iter().enumerate() { lines.push(report(&format!("Z{i}"), "Z", *d, "零报告")); }
            if let Some(d) = stable { lines.push(report("S", "Z", d, "灾情稳定")); }
            lines.sort_by_key(|(ms, _)| *ms);
            let end = t0 + 6 * 24 * HOUR;
            let mut clock: Vec<i64> = ticks.iter().map(|t| t0 + t).collect();
            clock.sort_unstable();
            let mut tracker = Tracker::new(p.clone());
            let mut out = Vec::new();
            let mut next_tick = 0;
            for (i, (ms, l)) in lines.iter().enumerate() {
                while clock.get(next_tick).is_some_and(|t| t < ms) {
                    tracker.advance(clock[next_tick], &mut out);
                    next_tick += 1;
                }
                tracker.observe_line(l, i as u64 + 1, &mut out).unwrap();
            }
            for t in &clock[next_tick..] {
                tracker.advance(*t, &mut out);
            }
            tracker.advance(end, &mut out);
            type Key = (String, String, Option<u32>, &'static str);
            let key = |o: &DeadlineOutput| -> Key {
                let c = o.check();
                (c.subject.to_string(), c.stage.to_string(), c.occurrence, o.type_name())
            };
            let mut live: Vec<Key> = out.iter().map(key).filter(|k| k.3 != "report_due").collect();
            live.sort();
            let records: Vec<Record> = lines.iter().enumerate().map(|(i, (_, l))| {
                let mut r = parse_record(&p, l, i as u64 + 1).unwrap();
                grade(&p, &mut r);
                r
            }).collect();
            let checks = check_batch(&p, &records, Timestamp { ms: end, offset_min: 480 });
            let mut want: Vec<Key> = yingji::unstable::engine::assess::deadline::outputs(&checks).iter().map(key).filter(|k| k.3 != "report_due").collect();
            for c in checks.iter().filter(|c| matches!(c.status, Status::Late { .. })) {
                want.push((c.subject.to_string(), c.stage.to_string(), c.occurrence, "report_missing"));
            }
            want.sort();
            prop_assert_eq!(live, want);
        }
    }
}
