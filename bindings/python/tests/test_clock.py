"""Event time without events: Engine.advance_to, Engine.finish(until), Engine.clock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

import yingji

SILENT = ("event rain { station: string, mm: number }\n"
          "signal 失联 { from rain key station missing 30m }")
CST = timezone(timedelta(hours=8))


def reading(station: str, ts: str) -> dict:
    return {"ts": ts, "kind": "rain", "station": station, "mm": 0}


@pytest.fixture()
def engine() -> yingji.Engine:
    return yingji.Definitions.from_text("silent.yj", SILENT).engine()


def test_advance_to_past_the_deadline_reports_the_absence_at_the_deadline(engine: yingji.Engine) -> None:
    assert engine.clock is None
    assert engine.push(reading("A", "2024-07-29T01:00:00+08:00")) == []
    assert engine.clock == "2024-07-29T01:00:00+08:00"
    # before the deadline (01:30): nothing
    assert engine.advance_to("2024-07-29T01:20:00+08:00") == []
    assert engine.clock == "2024-07-29T01:20:00+08:00"
    out = engine.advance_to("2024-07-29T02:00:00+08:00")
    assert [(o["type"], o["key"], o["ts"], o["id"]) for o in out] == [
        ("absence", "A", "2024-07-29T01:30:00+08:00", 1)]
    assert out[0]["signal"] == "失联"
    # the same time again, or an earlier one: nothing, and the clock stays
    assert engine.advance_to("2024-07-29T02:00:00+08:00") == []
    assert engine.advance_to("2024-07-28T00:00:00Z") == []
    assert engine.clock == "2024-07-29T02:00:00+08:00"
    assert engine.events == 1, "advancing takes no event number"


def test_advance_to_takes_an_aware_datetime(engine: yingji.Engine) -> None:
    engine.push(reading("A", "2024-07-29T01:00:00+08:00"))
    out = engine.advance_to(datetime(2024, 7, 29, 2, 0, tzinfo=CST))
    assert [o["ts"] for o in out] == ["2024-07-29T01:30:00+08:00"]
    with pytest.raises(yingji.ArgumentError, match="no UTC offset"):
        engine.advance_to(datetime(2024, 7, 29, 3, 0))
    with pytest.raises(yingji.ArgumentError):
        engine.advance_to(12)  # type: ignore[arg-type]


def test_a_bad_time_is_refused_naming_the_text_and_changes_nothing(engine: yingji.Engine) -> None:
    engine.push(reading("A", "2024-07-29T01:00:00+08:00"))
    for bad in ["half past two", "2024-07-29T03:00:00", "2024-02-30T00:00:00Z"]:
        with pytest.raises(yingji.ArgumentError) as info:
            engine.advance_to(bad)
        assert info.value.code == "invalid_argument"
        assert f"`{bad}`" in info.value.message
        with pytest.raises(yingji.ArgumentError, match="`" + bad + "`"):
            engine.finish(bad)
    assert engine.clock == "2024-07-29T01:00:00+08:00"
    # nothing was released by the refused calls
    assert [o["type"] for o in engine.advance_to("2024-07-29T02:00:00+08:00")] == ["absence"]


def test_finish_until_earlier_than_the_clock_is_refused(engine: yingji.Engine) -> None:
    engine.push(reading("A", "2024-07-29T01:00:00+08:00"))
    engine.advance_to("2024-07-29T01:10:00+08:00")
    with pytest.raises(yingji.ArgumentError) as info:
        engine.finish("2024-07-29T01:00:00+08:00")
    assert "already at 2024-07-29T01:10:00+08:00" in info.value.message
    assert engine.clock == "2024-07-29T01:10:00+08:00"
    assert engine.finish() == []
    engine.push(reading("B", "2024-07-29T01:20:00+08:00"))
    out = engine.finish(until="2024-07-29T03:00:00+08:00")
    assert [(o["type"], o["key"], o["ts"]) for o in out] == [
        ("absence", "A", "2024-07-29T01:30:00+08:00"),
        ("absence", "B", "2024-07-29T01:50:00+08:00"),
    ]
    assert [o["id"] for o in out] == [1, 2]
    assert engine.clock == "2024-07-29T03:00:00+08:00"


def test_a_closed_engine_refuses_the_clock_calls(engine: yingji.Engine) -> None:
    engine.close()
    with pytest.raises(yingji.ClosedError):
        engine.advance_to("2024-07-29T02:00:00+08:00")
    with pytest.raises(yingji.ClosedError):
        engine.finish()
    with pytest.raises(yingji.ClosedError):
        _ = engine.clock
