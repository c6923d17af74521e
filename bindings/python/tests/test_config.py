"""Run settings (yingji.Config), event error reasons, datetime times and the
from_text argument order."""

from __future__ import annotations

import json
import warnings
from datetime import datetime, timedelta, timezone

import pytest

import yingji

RAIN = ("event rain { station: string, mm: number }\n"
        "signal s { from rain key station let r = sum(mm, 1h) level red when r >= 10 }")
CST = timezone(timedelta(hours=8))


def defs() -> yingji.Definitions:
    return yingji.Definitions.from_text("rain.yj", RAIN)


@pytest.mark.parametrize("settings, field", [
    ({"lateness": "5 minutes"}, "lateness"),
    ({"lateness": 300}, "lateness"),
    ({"lateness": timedelta(microseconds=5)}, "lateness"),
    ({"lateness": timedelta(minutes=-5)}, "lateness"),
    ({"late": "drop"}, "late"),
    ({"max_ahead": "never"}, "max_ahead"),
    ({"idle_ttl": "0s"}, "idle_ttl"),
    ({"idle_ttl": "10m"}, "idle_ttl"),   # shorter than the signal's 1 h window
    ({"dedupe_kind_key_ts": "yes"}, "dedupe_kind_key_ts"),
    ({"max_line": 0}, "max_line"),
    ({"max_line": "1MiB"}, "max_line"),
    ({"colour": "red"}, "colour"),
])
def test_bad_settings_name_the_field(settings, field) -> None:
    with pytest.raises(yingji.ConfigError) as info:
        yingji.Engine(defs(), **settings)
    e = info.value
    assert e.field == field and e.reason == "bad_config", (e.detail, e.message)
    assert f"`{field}`" in e.message, e.message
    assert (e.code, e.status) == ("config", 12)
    assert isinstance(e, yingji.ArgumentError)
    if field != "colour":  # an unknown keyword cannot be a Config field
        with pytest.raises(yingji.ConfigError) as again:
            yingji.Engine(defs(), yingji.Config(**settings))
        assert again.value.field == field


def test_config_and_keywords_are_one_or_the_other() -> None:
    with pytest.raises(yingji.ArgumentError, match="not both"):
        yingji.Engine(defs(), yingji.Config(), lateness="1m")
    with pytest.raises(yingji.ArgumentError, match="yingji.Config"):
        yingji.Engine(defs(), {"lateness": "1m"})  # type: ignore[arg-type]
    assert json.loads(yingji.Config(lateness=timedelta(minutes=10)).to_json())["lateness"] == "600000ms"


A = {"ts": "2024-07-29T01:00:00+08:00", "kind": "rain", "station": "A", "mm": 12}
GAP = [{"ts": f"2024-08-01T{h:02}:00:00+08:00", "kind": "rain", "station": "B", "mm": 0} for h in range(3)]


def test_a_three_day_gap_needs_max_ahead() -> None:
    # the default 1-day guard refuses every event after a 3-day gap (another source)
    engine = yingji.Engine(defs())
    engine.push(A)
    batch = engine.push_batch(GAP)
    assert batch.accepted == 0
    assert {r["detail"]["reason"] for r in batch.rejected} == {"clock_suspect"}
    for settings in ({"max_ahead": "off"}, {"max_ahead": None}, {"max_ahead": "7d"},
                     {"max_ahead": timedelta(days=4)}):
        engine = yingji.Engine(defs(), **settings)
        engine.push(A)
        batch = engine.push_batch(GAP)
        assert batch.accepted == 3, settings
        assert [o["to"] for o in [*batch, *engine.flush()]] == ["red"], settings


def test_lateness_and_late_policy_take_effect() -> None:
    late = {"ts": "2024-07-29T00:50:00+08:00", "kind": "rain", "station": "A", "mm": 1}
    later = {"ts": "2024-07-29T01:01:00+08:00", "kind": "rain", "station": "A", "mm": 0}
    engine = yingji.Engine(defs(), lateness="0s")
    assert engine.push(A) == []
    assert [o["to"] for o in engine.push(later)] == ["red"]  # released at once
    out = engine.push(late)
    assert [o["type"] for o in out] == ["late"]
    engine = yingji.Engine(defs(), yingji.Config(lateness="0s", late="apply"))
    engine.push(A)
    engine.push(later)
    assert [o["type"] for o in engine.push(late)] == ["late"]


def test_restore_refuses_another_lateness_or_dedupe() -> None:
    first = yingji.Engine(defs())
    first.push(A)
    snapshot = first.snapshot()
    for settings, field in (({"lateness": "10m"}, "lateness"),
                            ({"dedupe_kind_key_ts": True}, "dedupe_kind_key_ts")):
        other = yingji.Engine(defs(), **settings)
        with pytest.raises(yingji.StateError) as info:
            other.restore(snapshot)
        assert info.value.reason == "config_mismatch"
        assert info.value.detail["field"] == field
        assert field in info.value.message
        assert other.events == 0
    other = yingji.Engine(defs(), max_ahead="3d", idle_ttl="2d", late="apply")
    assert other.restore(snapshot)["kept"] == ["s"]
    assert [o["to"] for o in other.flush()] == ["red"]


@pytest.mark.parametrize("event, reason, member", [
    ("{oops", "not_json", None),
    ({"kind": "rain", "station": "A", "mm": 1}, "missing_member", ("member", "ts")),
    ({"ts": "soon", "kind": "rain", "station": "A", "mm": 1}, "bad_timestamp", ("member", "ts")),
    ({"ts": "2024-07-29T01:00:00+08:00", "kind": "rain", "station": "A", "mm": "x"}, "wrong_type", ("field", "mm")),
    ({"ts": "2024-07-29T01:00:00+08:00", "kind": "rain", "station": "A"}, "missing_field", ("field", "mm")),
])
def test_event_errors_have_reasons(event, reason, member) -> None:
    engine = yingji.Engine(defs())
    with pytest.raises(yingji.EventError) as info:
        engine.push(event)
    assert info.value.reason == reason, info.value.message
    if member:
        assert info.value.detail[member[0]] == member[1]


def test_too_long_events_are_refused() -> None:
    engine = yingji.Engine(defs(), max_line=40)
    with pytest.raises(yingji.EventError) as info:
        engine.push(A)
    assert info.value.reason == "too_long"
    assert "max_line" in info.value.message


def test_aware_datetimes_are_times_naive_ones_refused() -> None:
    engine = yingji.Engine(defs())
    ts = datetime(2024, 7, 29, 1, 0, tzinfo=CST)
    assert engine.push({**A, "ts": ts}) == []
    assert engine.clock == "2024-07-29T01:00:00+08:00"
    utc = datetime(2024, 7, 28, 17, 30, 0, 250000, tzinfo=timezone.utc)  # 01:30:00.250 +08:00
    out = engine.push({**A, "ts": utc, "mm": 0})  # releases the 01:00 reading: red
    assert engine.events == 2
    with pytest.raises(yingji.ArgumentError, match="naive datetime"):
        engine.push({**A, "ts": datetime(2024, 7, 29, 2, 0)})
    with pytest.raises(yingji.ArgumentError, match="microseconds"):
        engine.push({**A, "ts": datetime(2024, 7, 29, 2, 0, 0, 5, tzinfo=CST)})
    with pytest.raises(yingji.ArgumentError, match="naive datetime"):
        engine.advance_to(datetime(2024, 7, 29, 2, 0))
    assert engine.events == 2  # refused before reaching the engine
    out += engine.advance_to(datetime(2024, 7, 29, 3, 0, tzinfo=CST))
    assert [o["to"] for o in out] == ["red"]
    assert engine.clock == "2024-07-29T03:00:00+08:00"


def test_from_text_takes_the_name_first() -> None:
    assert yingji.Definitions.from_text("rain.yj", RAIN).ok
    assert yingji.Definitions.from_text(name="rain.yj", text=RAIN).ok
    assert yingji.Definitions.from_text("rain.yj", text=RAIN).ok
    with pytest.raises(yingji.DefinitionError) as info:
        yingji.Definitions.from_text("named.yj", "event rain { mm: numbr }")
    assert info.value.diagnostics[0]["file"] == "named.yj"
    # the old order, where it cannot be mistaken: works, deprecated
    with pytest.warns(DeprecationWarning):
        assert yingji.Definitions.from_text(RAIN).ok
    with pytest.warns(DeprecationWarning):
        d = yingji.Definitions.from_text("event rain { mm: numbr }", name="old.yj", check=False)
    assert d.diagnostics[0]["file"] == "old.yj"
    # the old order with two positional arguments is refused, not guessed at
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(yingji.ArgumentError, match="look reversed"):
            yingji.Definitions.from_text(RAIN, "rain.yj")
        with pytest.raises(yingji.ArgumentError, match="look reversed"):
            yingji.Definitions.from_text("event rain { mm: number }", "a.yaml")
    with pytest.raises(yingji.ArgumentError):
        yingji.Definitions.from_text("a.yj", RAIN, name="b.yj")
