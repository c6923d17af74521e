//! Every kind of authoring mistake gets a located, explained diagnostic.
//! The rendered text is snapshotted (tests/snapshots/).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use yingji::Definitions;

const EVENTS: &str = "event rain { station: string, town: string, mm: number }\n";

/// Loads `text` (prefixed by the rain event declaration) and renders all diagnostics.
fn diagnose(name: &str, text: &str) -> String {
    let full = if name.ends_with(".yaml") {
        text.to_string()
    } else {
        format!("{EVENTS}{text}")
    };
    match Definitions::from_str(name, &full) {
        Ok(d) => d
            .warnings()
            .iter()
            .map(|w| w.render(d.sources()))
            .collect::<Vec<_>>()
            .join("\n"),
        Err(e) => e.rendered,
    }
}

#[test]
fn unexpected_token() {
    let r = diagnose(
        "bad.yj",
        "signal s {\n  from rain\n  key station\n  level red when mm >= >= 3\n}\n",
    );
    insta::assert_snapshot!(r);
    assert!(r.contains("bad.yj:5:24"), "{r}");
}

#[test]
fn unclosed_block() {
    let r = diagnose(
        "bad.yj",
        "signal s {\n  from rain\n  key station\n  level red when mm >= 3\n",
    );
    insta::assert_snapshot!(r);
    assert!(r.contains("never closed"), "{r}");
}

#[test]
fn bad_duration() {
    let r = diagnose(
        "bad.yj",
        "signal s {\n  from rain\n  key station\n  let r = sum(mm, 3x)\n  level red when r >= 3\n}\n",
    );
    insta::assert_snapshot!(r);
    assert!(
        r.contains("bad.yj:5:20") && r.contains("unknown unit `x`"),
        "{r}"
    );
}

#[test]
fn unknown_field_with_suggestion() {
    let r = diagnose(
        "bad.yj",
        "signal s {\n  from rain\n  key stationn\n  level red when mm >= 3\n}\n",
    );
    insta::assert_snapshot!(r);
    assert!(r.contains("did you mean `station`?"), "{r}");
}

#[test]
fn unknown_name_in_expression_with_suggestion() {
    let r = diagnose(
        "bad.yj",
        "signal s {\n  from rain\n  key station\n  let r3 = sum(mm, 3h)\n  level red when r33 >= 100\n}\n",
    );
    insta::assert_snapshot!(r);
    assert!(
        r.contains("bad.yj:6:18") && r.contains("did you mean `r3`?"),
        "{r}"
    );
}

#[test]
fn string_compared_with_number() {
    let r = diagnose(
        "bad.yj",
        "signal s {\n  from rain\n  key station\n  level red when town >= 3\n}\n",
    );
    insta::assert_snapshot!(r);
    assert!(
        r.contains("cannot apply `>=` to a string and a number"),
        "{r}"
    );
}

#[test]
fn sum_of_a_string() {
    let r = diagnose(
        "bad.yj",
        "signal s {\n  from rain\n  key station\n  let t = sum(town, 3h)\n  level red when t >= 3\n}\n",
    );
    insta::assert_snapshot!(r);
    assert!(
        r.contains("`sum` needs numbers, but this is a string"),
        "{r}"
    );
}

#[test]
fn duplicate_definition_names() {
    let sig = "signal s {\n  from rain\n  key station\n  level red when mm >= 3\n}\n";
    let r = diagnose("bad.yj", &format!("{sig}{sig}"));
    insta::assert_snapshot!(r);
    assert!(
        r.contains("defined twice") && r.contains("first defined at bad.yj:2:8"),
        "{r}"
    );
}

#[test]
fn duplicate_event_kind() {
    let r = diagnose("bad.yj", "event rain { mm: number }\n");
    assert!(
        r.contains("event kind `rain` is declared twice") && r.contains("bad.yj:2:7"),
        "{r}"
    );
}

#[test]
fn level_rules_out_of_order() {
    let r = diagnose(
        "bad.yj",
        "signal s {\n  from rain\n  key station\n  level yellow when mm >= 10\n  level red when mm >= 30\n}\n",
    );
    insta::assert_snapshot!(r);
    assert!(r.contains("`red` comes after `yellow`"), "{r}");
}

#[test]
fn impossible_level_is_a_warning() {
    let d = Definitions::from_str(
        "w.yj",
        &format!("{EVENTS}signal s {{\n  from rain\n  key station\n  let r3 = sum(mm, 3h)\n  level red when r3 >= 40\n  level orange when r3 >= 50\n}}\n"),
    )
    .expect("warnings do not reject the definitions");
    assert_eq!(d.warnings().len(), 1);
    let r = d.warnings()[0].render(d.sources());
    insta::assert_snapshot!(r);
    assert!(
        r.starts_with("warning[W0401]") && r.contains("w.yj:7:3"),
        "{r}"
    );
}

#[test]
fn unknown_kind_and_level_and_type_all_reported_at_once() {
    let r = diagnose(
        "bad.yj",
        "event gauge { level_m: numbr }\nsignal s {\n  from rian\n  key station\n  level purple when 1 > 0\n}\n",
    );
    insta::assert_snapshot!(r);
    for want in [
        "unknown type `numbr`",
        "no event kind `rian`",
        "did you mean `rain`?",
        "unknown level `purple`",
    ] {
        assert!(r.contains(want), "missing {want:?} in\n{r}");
    }
}

#[test]
fn errors_in_separate_definitions_are_all_reported() {
    let r = diagnose(
        "bad.yj",
        "signal a {\n  from rain key station\n  level red when mm >=\n}\nsignal b {\n  from rain key station\n  level red when mm >> 2\n}\n",
    );
    assert_eq!(r.matches("error[E0001]").count(), 2, "{r}");
}

#[test]
fn condition_must_be_boolean() {
    let r = diagnose(
        "bad.yj",
        "signal s {\n  from rain\n  key station\n  level red when mm + 1\n}\n",
    );
    assert!(
        r.contains("a level condition must be true or false, but this is a number"),
        "{r}"
    );
}

#[test]
fn yaml_expression_errors_point_into_the_yaml_file() {
    let yaml = "events:\n  rain: { station: string, mm: number }\nsignals:\n  s:\n    from: rain\n    key: station\n    let:\n      r3: sum(mm, 3h)\n    levels:\n      red: r3 >= 1OO\n      orange: \"r4 >= 50\"\n";
    let r = diagnose("bad.yaml", yaml);
    insta::assert_snapshot!(r);
    assert!(r.contains("bad.yaml:10:19"), "{r}");
    assert!(
        r.contains("bad.yaml:11:16") && r.contains("did you mean `r3`?"),
        "{r}"
    );
}

#[test]
fn yaml_shape_errors_are_located() {
    let yaml = "events:\n  rain: { station: string, mm: number }\nsignals:\n  s:\n    from: rain\n    kee: station\n";
    let r = diagnose("bad.yaml", yaml);
    insta::assert_snapshot!(r);
    assert!(r.contains("bad.yaml:6:"), "{r}");
}

/// A duplicate key deep in a plan document is reported as a duplicate, at
/// the second key, in a file still recognised as a plan document (it used
/// to be taken for a policy file and refused for its `supplies:` key).
#[test]
fn a_duplicate_key_is_named_where_it_is() {
    let table = "supplies: 物资前置表\nunits: { 帐篷: 顶 }\ntownships:\n  南溪镇: { 帐篷: 30 }\n  南溪镇: { 帐篷: 1 }\n";
    let r = diagnose("supplies_table.yaml", table);
    assert!(
        r.contains("error[E0003]: invalid plan YAML: duplicate key `南溪镇`: each key may appear once in a mapping"),
        "{r}"
    );
    assert!(r.contains("--> supplies_table.yaml:5:3"), "{r}");
    assert!(!r.contains("policy"), "{r}");
    // the same in a policy document
    let policy = "events:\n  rain: { station: string, mm: number }\n  rain: { station: string }\n";
    let r = diagnose("p.yaml", policy);
    assert!(
        r.contains("invalid policy YAML: duplicate key `rain`"),
        "{r}"
    );
    assert!(r.contains("--> p.yaml:3:3"), "{r}");
}

#[test]
fn json_diagnostics_for_machines() {
    let err = Definitions::from_str(
        "bad.yj",
        &format!("{EVENTS}signal s {{ from rain key stationn level red when mm > 1 }}"),
    )
    .unwrap_err();
    let j = err.to_json();
    assert_eq!(j[0]["code"], "E0101");
    assert_eq!(j[0]["line"], 2);
    assert_eq!(j[0]["column"], 26);
    assert_eq!(j[0]["hint"], "did you mean `station`?");
}

/// A signal setting given twice is an error at the second (it used to be
/// accepted, the last one winning silently).
#[test]
fn a_signal_setting_given_twice_is_an_error() {
    let src = "event rain { station: string, mm: number }\n\
               signal s {\n  from rain\n  key station\n  level red when mm >= 1\n  clear after 10m\n  clear after 5m\n  missing 30m\n  missing 1h\n}\n";
    let err = match yingji::Definitions::from_str("twice.yj", src) {
        Ok(_) => panic!("accepted a setting given twice"),
        Err(e) => e.rendered,
    };
    assert!(
        err.contains("error[E0301]: `clear after` is given twice in this signal"),
        "{err}"
    );
    assert!(err.contains("--> twice.yj:7:3"), "{err}");
    assert!(
        err.contains("error[E0301]: `missing` is given twice in this signal"),
        "{err}"
    );
    assert!(err.contains("--> twice.yj:9:3"), "{err}");
    // once each is fine
    let ok = "event rain { station: string, mm: number }\n\
              signal s { from rain key station level red when mm >= 1 clear after 10m missing 30m }\n";
    assert!(yingji::Definitions::from_str("once.yj", ok).is_ok());
}

/// A key of a table-driven signal with no row in the table: a `check`
/// warning where the keys are known (a roster), and at run time one
/// `table_miss` per key, on both evaluators (it used to never fire, silently).
#[test]
fn a_table_miss_is_a_warning_and_an_output_once_per_key() {
    let src = "event river { station: string, level_m: number }\n\
               table 站 {\n  \"H1\": { 警戒: 10 }\n}\n\
               signal s {\n  from river\n  key station\n  let w = 站.警戒\n  level red when level_m >= w\n  missing 1h\n  roster [\"H1\", \"H9\"]\n}\n";
    let defs =
        yingji::Definitions::from_str("miss.yj", src).unwrap_or_else(|e| panic!("{}", e.rendered));
    let warn: String = defs
        .warnings()
        .iter()
        .map(|w| w.render(defs.sources()))
        .collect();
    assert!(
        warn.contains("warning[W0402]: `H9` has no row in table `站`"),
        "{warn}"
    );
    assert!(warn.contains("--> miss.yj:11:17"), "{warn}");
    for reference in [false, true] {
        let mut e = defs.engine().unwrap();
        if reference {
            e = e.reference_evaluator();
        }
        let mut out = Vec::new();
        for (i, (st, m)) in [("H1", 11), ("H9", 11), ("H9", 12), ("H7", 1)]
            .iter()
            .enumerate()
        {
            let line = format!(
                r#"{{"ts":"2024-07-29T03:0{i}:00+08:00","kind":"river","station":"{st}","level_m":{m}}}"#
            );
            e.push_line(&line, i as u64 + 1, &mut out).unwrap();
        }
        e.flush(&mut out);
        let misses: Vec<String> = out
            .iter()
            .filter(|o| o.type_name() == "table_miss")
            .map(|o| o.to_json())
            .collect();
        assert_eq!(misses.len(), 2, "{misses:?}");
        assert!(
            misses[0].contains(r#""signal":"s","key":"H9","table":"站","event":2"#),
            "{misses:?}"
        );
        assert!(misses[1].contains(r#""key":"H7""#), "{misses:?}");
        assert_eq!(
            out.iter()
                .filter(|o| o.type_name() == "level_changed")
                .count(),
            1
        );
    }
}
