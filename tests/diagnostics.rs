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
            .warnings
            .iter()
            .map(|w| w.render(&d.sources))
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
    assert_eq!(d.warnings.len(), 1);
    let r = d.warnings[0].render(&d.sources);
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
