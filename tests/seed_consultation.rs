//! Seed mechanism: 1+7+N 会商研判 (`plans/consultation.yaml`) — one county
//! instance; the county bureau and seven departments answer within 30 min;
//! each township that reaches orange joins (`area_joined`) and its head is
//! called; the consultation stands down when every affected township is
//! below orange. Events in, exact outputs out.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod plans_common;

use plans_common::{Harness, shipped, t, trace};
use yingji::Level;

fn harness() -> Harness {
    let mut files = shipped();
    let path = format!("{}/plans/consultation.yaml", env!("CARGO_MANIFEST_DIR"));
    files.push((
        "plans/consultation.yaml".into(),
        std::fs::read_to_string(path).unwrap(),
    ));
    Harness::new(&files).unwrap()
}

const REF: &str = "会商研判@云阳县#1/会商";

fn only_consultation(outs: &[serde_json::Value]) -> Vec<serde_json::Value> {
    outs.iter()
        .filter(|o| o["plan"] == "会商研判")
        .cloned()
        .collect()
}

#[test]
fn townships_join_one_county_consultation() {
    let mut h = harness();
    h.level(0, "暴雨预警", "YY-003", "南溪镇", Level::Orange)
        .unwrap();
    let outs = only_consultation(&h.take());
    let people: Vec<&str> = outs
        .iter()
        .filter(|o| o["type"] == "notify")
        .map(|o| o["person"].as_str().unwrap())
        .collect();
    assert_eq!(
        people,
        [
            "D001", "D002", "D003", "D004", "D005", "D006", "D007", "D008", "NX01"
        ]
    );
    assert_eq!(outs[0]["instance"], "会商研判@云阳县#1");
    assert_eq!(outs[0]["area"], "云阳县");

    // 江口镇 reaches orange 10 minutes later: it joins, its head is called
    // with the tier's deadline
    h.level(600, "暴雨预警", "YY-004", "江口镇", Level::Orange)
        .unwrap();
    let outs = only_consultation(&h.take());
    assert_eq!(
        trace(&outs),
        ["area_joined 等待到会", "notify 会商 person=JK01"],
        "{outs:#?}"
    );
    assert_eq!(outs[0]["joined"], "江口镇");
    assert_eq!(outs[0]["affected"], serde_json::json!(["南溪镇", "江口镇"]));
    assert_eq!(outs[1]["tier"], 9);
    assert_eq!(outs[1]["deadline"], t(1800));

    // everyone but the 林业局 answers in time
    for (s, p) in [
        (700, "D001"),
        (710, "D002"),
        (720, "D003"),
        (730, "D004"),
        (740, "D005"),
        (750, "D006"),
        (760, "D007"),
        (770, "NX01"),
        (1800, "JK01"),
    ] {
        h.ack(s, p, Some(REF)).unwrap();
    }
    h.advance(1801);
    let outs = only_consultation(&h.take());
    let un: Vec<&serde_json::Value> = outs.iter().filter(|o| o["type"] == "unanswered").collect();
    assert_eq!(un.len(), 1, "{outs:#?}");
    assert_eq!(un[0]["roles"], serde_json::json!(["县林业局"]));
    assert_eq!(un[0]["pending"], serde_json::json!(["D008"]));
    assert!(
        outs.iter()
            .any(|o| o["type"] == "notify" && o["person"] == "C002")
    );

    // 南溪镇 falls below orange: 江口镇 still holds it; then 江口镇 falls too
    h.level(3600, "暴雨预警", "YY-003", "南溪镇", Level::Yellow)
        .unwrap();
    assert!(only_consultation(&h.take()).is_empty());
    h.level(4200, "暴雨预警", "YY-004", "江口镇", Level::Yellow)
        .unwrap();
    let outs = only_consultation(&h.take());
    assert_eq!(trace(&outs), ["plan_closed 结束"], "{outs:#?}");
    assert_eq!(outs[0]["complete"], true);
    assert_eq!(outs[0]["unanswered"], serde_json::json!(["D008", "C002"]));
}
