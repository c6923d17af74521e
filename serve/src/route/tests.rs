//! Routing on a fake clock (ms).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test"
)]

use super::*;
use serde_json::json;

const T0: i64 = 1_722_211_200_000; // 2024-07-29T08:00:00+08:00, a Monday
const S: i64 = 1_000;
const M: i64 = 60_000;

fn ts(ms: i64) -> String {
    yingji_engine::Timestamp {
        ms,
        offset_min: 480,
    }
    .to_string()
}

fn level(at: i64, signal: &str, key: &str, to: &str) -> Value {
    json!({"type":"level_changed","ts":ts(at),"signal":signal,"key":key,"to":to})
}

fn cfg(yaml: &str) -> RouteConfig {
    serde_saphyr::from_str(yaml).unwrap()
}

const BASE: &str = "group_wait: 30s\ngroup_interval: 5m\nrepeat_interval: 4h\n\
    receivers:\n  - { name: 南溪镇值班, channel: sms, to: '13800000001', matchers: { township: 南溪镇 } }\n  - { name: 县值班, channel: app, to: duty }\n";

fn router(extra: &str) -> Router {
    Router::new(cfg(&format!("{BASE}{extra}")), RouterState::default())
}

fn texts(m: &[RouteMessage]) -> Vec<String> {
    m.iter()
        .map(|m| {
            format!(
                "{} {} {}",
                m.receiver,
                m.state,
                m.alerts
                    .iter()
                    .map(|a| format!("{}:{}", a.key, a.level))
                    .collect::<Vec<_>>()
                    .join(",")
            )
        })
        .collect()
}

#[test]
fn a_new_group_waits_then_one_message_per_receiver() {
    let mut r = router("");
    assert!(
        r.on_output(&level(T0, "暴雨", "A", "red"), Some("南溪镇"))
            .is_empty()
    );
    assert!(
        r.on_output(&level(T0 + 5 * S, "暴雨", "B", "yellow"), Some("南溪镇"))
            .is_empty()
    );
    assert!(r.tick(T0 + 29 * S).is_empty());
    let m = r.tick(T0 + 30 * S);
    assert_eq!(
        texts(&m),
        [
            "南溪镇值班 firing A:red,B:yellow",
            "县值班 firing A:red,B:yellow"
        ]
    );
    assert_eq!(m[0].channel, "sms");
    assert_eq!(m[0].id, "route-1");
    assert!(
        m[0].text.contains("南溪镇") && m[0].text.contains("红色"),
        "{}",
        m[0].text
    );
    // nothing new: nothing sent, until the repeat interval
    assert!(r.tick(T0 + 10 * M).is_empty());
    let m = r.tick(T0 + 30 * S + 4 * 60 * M);
    assert_eq!(m.len(), 2, "repeat after 4h");
}

#[test]
fn changes_wait_for_the_group_interval_and_the_all_clear_is_sent_once() {
    let mut r = router("");
    r.on_output(&level(T0, "暴雨", "A", "yellow"), Some("南溪镇"));
    assert_eq!(r.tick(T0 + 30 * S).len(), 2);
    r.on_output(&level(T0 + M, "暴雨", "A", "red"), Some("南溪镇"));
    assert!(r.tick(T0 + 5 * M).is_empty(), "within the group interval");
    let m = r.tick(T0 + 30 * S + 5 * M);
    assert_eq!(texts(&m)[0], "南溪镇值班 firing A:red");
    r.on_output(&level(T0 + 6 * M, "暴雨", "A", "none"), Some("南溪镇"));
    let m = r.tick(T0 + 11 * M);
    assert_eq!(texts(&m)[0], "南溪镇值班 resolved ");
    assert!(m[0].text.contains("解除"), "{}", m[0].text);
    assert!(r.tick(T0 + 60 * M).is_empty());
    assert!(r.state().alerts.is_empty(), "resolved and sent: forgotten");
}

#[test]
fn a_red_inhibits_the_yellow_of_the_same_township_only() {
    let mut r = router(
        "inhibit:\n  - { source: { level: red }, target: { level: yellow }, equal: [township] }\n",
    );
    r.on_output(&level(T0, "暴雨", "A", "red"), Some("南溪镇"));
    r.on_output(&level(T0, "暴雨", "B", "yellow"), Some("南溪镇"));
    r.on_output(&level(T0, "暴雨", "C", "yellow"), Some("江口镇"));
    let m = r.tick(T0 + 30 * S);
    let t = texts(&m);
    assert!(t.contains(&"南溪镇值班 firing A:red".to_string()), "{t:?}");
    assert!(t.contains(&"县值班 firing C:yellow".to_string()), "{t:?}");
    // the red clears: the yellow shows
    r.on_output(&level(T0 + M, "暴雨", "A", "none"), Some("南溪镇"));
    let m = r.tick(T0 + 30 * S + 5 * M);
    assert_eq!(texts(&m)[0], "南溪镇值班 firing B:yellow");
}

#[test]
fn station_offline_inhibits_its_no_data_warning() {
    let mut r = router(
        "inhibit:\n  - { source: { type: absence }, target: { signal: 无数据 }, equal: [station] }\n",
    );
    r.on_output(
        &json!({"type":"absence","ts":ts(T0),"signal":"离线","key":"A"}),
        Some("南溪镇"),
    );
    r.on_output(&level(T0, "无数据", "A", "yellow"), Some("南溪镇"));
    let m = r.tick(T0 + 30 * S);
    assert_eq!(texts(&m)[0], "南溪镇值班 firing A:offline");
    // back online: the no-data warning is no longer inhibited
    r.on_output(
        &json!({"type":"recovered","ts":ts(T0 + M),"signal":"离线","key":"A"}),
        Some("南溪镇"),
    );
    let m = r.tick(T0 + 30 * S + 5 * M);
    assert_eq!(texts(&m)[0], "南溪镇值班 firing A:yellow");
}

fn silence(r: &mut Router, spec: &str, now: i64) -> Result<Silence, String> {
    let spec: SilenceSpec = serde_saphyr::from_str(spec).unwrap();
    let s = r.make_silence(spec, now)?;
    r.add_silence(s.clone())?;
    Ok(s)
}

#[test]
fn silences_by_station_and_recurring_maintenance_windows() {
    let mut r = router("");
    silence(
        &mut r,
        &format!("matchers: {{ station: A }}\nends: '{}'\n", ts(T0 + 60 * M)),
        T0,
    )
    .unwrap();
    r.on_output(&level(T0, "暴雨", "A", "red"), Some("南溪镇"));
    assert!(r.tick(T0 + 30 * S).is_empty(), "silenced");
    // after the silence ends, the alert is shown
    assert_eq!(r.tick(T0 + 61 * M).len(), 2);

    // Mondays 07:00–09:00 local, station B
    let mut r = router("");
    silence(
        &mut r,
        &format!(
            "matchers: {{ station: B }}\nstarts: '{}'\nends: '{}'\nrecurring: {{ days: [mon], from: '07:00', to: '09:00' }}\n",
            ts(T0 - 60 * M),
            ts(T0 + 30 * 24 * 60 * M)
        ),
        T0,
    )
    .unwrap();
    r.on_output(&level(T0, "暴雨", "B", "red"), Some("南溪镇"));
    assert!(
        r.tick(T0 + 30 * M).is_empty(),
        "Monday 08:30: in the window"
    );
    assert_eq!(r.tick(T0 + 61 * M).len(), 2, "Monday 09:01: out of it");
    // a window past midnight: 23:00–01:00, every day
    let mut r = router("");
    silence(
        &mut r,
        &format!(
            "matchers: {{ station: C }}\nends: '{}'\nrecurring: {{ from: '23:00', to: '01:00' }}\n",
            ts(T0 + 48 * 60 * M)
        ),
        T0,
    )
    .unwrap();
    let midnight_half = T0 + 16 * 60 * M + 30 * M; // Tuesday 00:30
    r.on_output(
        &level(midnight_half - M, "暴雨", "C", "red"),
        Some("江口镇"),
    );
    assert!(r.tick(midnight_half).is_empty(), "00:30 is in 23:00–01:00");
    assert_eq!(r.tick(midnight_half + 31 * M).len(), 1, "01:01 is not");
}

#[test]
fn bad_silences_are_refused_with_the_reason() {
    let mut r = router("");
    let e = silence(
        &mut r,
        &format!(
            "matchers: {{ station: A }}\nstarts: '{}'\nends: '{}'\n",
            ts(T0),
            ts(T0 - M)
        ),
        T0,
    )
    .unwrap_err();
    assert!(e.contains("not after starts"), "{e}");
    let e = silence(
        &mut r,
        &format!("matchers: {{}}\nends: '{}'\n", ts(T0 + M)),
        T0,
    )
    .unwrap_err();
    assert!(e.contains("matchers is empty"), "{e}");
    let e = silence(
        &mut r,
        &format!("matchers: {{ station: A }}\nends: '{}'\nrecurring: {{ days: [funday], from: '01:00', to: '02:00' }}\n", ts(T0 + M)),
        T0,
    )
    .unwrap_err();
    assert!(e.contains("`funday` is not a day"), "{e}");
    let e = silence(
        &mut r,
        &format!(
            "matchers: {{ station: A }}\nends: '{}'\nrecurring: {{ from: '25:00', to: '02:00' }}\n",
            ts(T0 + M)
        ),
        T0,
    )
    .unwrap_err();
    assert!(e.contains("recurring.from"), "{e}");
    let e = silence(&mut r, "matchers: { station: A }\nends: tomorrow\n", T0).unwrap_err();
    assert!(e.starts_with("ends:"), "{e}");
    assert!(r.silences().is_empty());
}

#[test]
fn sms_texts_fit_their_segments_and_say_when_cut() {
    let short = "南溪镇暴雨红色预警";
    assert_eq!(fit_sms(short, 1), (short.to_string(), 1, false));
    let long: String = "雨".repeat(100);
    let (t, segs, cut) = fit_sms(&long, 1);
    assert_eq!((t.chars().count(), segs, cut), (70, 1, true));
    assert!(t.ends_with('…'));
    let (t, segs, cut) = fit_sms(&long, 2);
    assert_eq!((t.chars().count(), segs, cut), (100, 2, false));
    let (t, segs, cut) = fit_sms(&"雨".repeat(70), 1);
    assert_eq!((t.chars().count(), segs, cut), (70, 1, false));
    let (_, segs, _) = fit_sms(&"雨".repeat(71), 3);
    assert_eq!(segs, 2, "a long message holds 67 per segment");

    // a template over its length in a message
    let mut r = router("templates:\n  sms: { text: '【应急】{township}：{alerts}' }\n");
    for i in 0..20 {
        r.on_output(
            &level(T0, "暴雨预警", &format!("站点{i:02}"), "red"),
            Some("南溪镇"),
        );
    }
    let m = r.tick(T0 + 30 * S);
    let sms = m.iter().find(|m| m.channel == "sms").unwrap();
    assert!(sms.truncated);
    assert_eq!(sms.text.chars().count(), 70);
    assert_eq!(sms.alerts.len(), 20, "the full list stays in the message");
    let app = m.iter().find(|m| m.channel == "app").unwrap();
    assert!(!app.truncated);
}

#[test]
fn rate_limits_per_recipient() {
    let mut r = router("group_by: [station]\nrate_limit: { max: 2, per: 1h }\n");
    for (i, k) in ["A", "B", "C"].iter().enumerate() {
        r.on_output(&level(T0 + i as i64 * S, "暴雨", k, "red"), Some("南溪镇"));
    }
    let m = r.tick(T0 + M);
    let sms: Vec<&str> = m
        .iter()
        .filter(|m| m.channel == "sms")
        .map(|m| m.status)
        .collect();
    assert_eq!(sms, ["send", "send", "rate_limited"]);
    // an hour later the budget is back
    r.on_output(&level(T0 + 2 * M, "暴雨", "D", "red"), Some("南溪镇"));
    let m = r.tick(T0 + 62 * M);
    let sms: Vec<&str> = m
        .iter()
        .filter(|m| m.channel == "sms")
        .map(|m| m.status)
        .collect();
    assert_eq!(sms, ["send"]);
}

#[test]
fn state_round_trips_and_resumes_identically() {
    let mut a = router("");
    a.on_output(&level(T0, "暴雨", "A", "red"), Some("南溪镇"));
    let st: RouterState = serde_json::from_value(serde_json::to_value(a.state()).unwrap()).unwrap();
    let mut b = Router::new(cfg(BASE), st);
    assert_eq!(texts(&a.tick(T0 + 30 * S)), texts(&b.tick(T0 + 30 * S)));
    assert_eq!(a.state(), b.state());
}
