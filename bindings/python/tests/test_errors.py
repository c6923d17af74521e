"""Every bad input returns an error with a code and a message."""

from __future__ import annotations

import pytest

import yingji
from yingji import _native

RAIN = ("event rain { station: string, mm: number }\n"
        "signal s { from rain key station let r = sum(mm, 1h) level red when r >= 10 }")
GOOD = {"ts": "2024-07-29T01:00:00+08:00", "kind": "rain", "station": "A", "mm": 12}
BAD_DEFS = ("event rain { station: string, mm: number }\n"
            "signal s { from rain key stationn level red when mm >= 50 }")


@pytest.fixture()
def engine() -> yingji.Engine:
    return yingji.Definitions.from_text("rain.yj", RAIN).engine()


def test_definitions_that_do_not_compile_carry_diagnostics() -> None:
    with pytest.raises(yingji.DefinitionError) as info:
        yingji.Definitions.from_text("bad.yj", BAD_DEFS)
    e = info.value
    assert isinstance(e, yingji.Error)
    assert (e.code, e.status) == ("definitions", 4)
    assert e.message.startswith("the definitions did not compile: 1 error(s)")
    [d] = e.diagnostics
    assert (d["severity"], d["code"], d["file"], d["line"], d["column"]) == ("error", "E0101", "bad.yj", 2, 26)
    assert d["message"] == "unknown name `stationn`"
    assert d["hint"] == "did you mean `station`?"
    assert "error[E0101] bad.yj:2:26: unknown name `stationn` (help: did you mean `station`?)" in str(e)


def test_engine_over_failed_definitions_is_refused() -> None:
    defs = yingji.Definitions.from_text("bad.yj", BAD_DEFS, check=False)
    assert not defs.ok
    assert [d["code"] for d in defs.diagnostics] == ["E0101"]
    assert "error[E0101]: unknown name `stationn`" in defs.render()
    assert defs.summary["errors"] == 1
    with pytest.raises(yingji.DefinitionError) as info:
        yingji.Engine(defs)
    assert info.value.diagnostics[0]["code"] == "E0101"
    with pytest.raises(yingji.DefinitionError):
        defs.assess([])


def test_missing_path_is_a_diagnostic(tmp_path) -> None:
    with pytest.raises(yingji.DefinitionError) as info:
        yingji.Definitions.from_paths(tmp_path / "nothing-here")
    assert info.value.diagnostics[0]["code"] == "E0004"
    with pytest.raises(yingji.ArgumentError):
        yingji.Definitions.from_paths()


def test_malformed_json(engine: yingji.Engine) -> None:
    with pytest.raises(yingji.MalformedJsonError) as info:
        engine.push("{not json")
    assert isinstance(info.value, yingji.EventError)
    assert (info.value.code, info.value.status) == ("malformed_json", 3)
    assert "not a JSON object" in info.value.message
    with pytest.raises(yingji.MalformedJsonError):
        engine.push("[1, 2]")
    with pytest.raises(yingji.MalformedJsonError) as info:
        engine.push_batch('[{"ts":')
    assert "the batch is not a JSON array" in info.value.message
    assert engine.events == 2  # the refused lines were numbered; the broken batch applied nothing
    with pytest.raises(yingji.MalformedJsonError):
        engine.restore("{")


def test_invalid_utf8(engine: yingji.Engine) -> None:
    with pytest.raises(yingji.EncodingError) as info:
        engine.push(b'{"ts":"\xc3\x28"}')
    assert (info.value.code, info.value.status) == ("invalid_utf8", 2)
    assert "event is not valid UTF-8" in info.value.message
    with pytest.raises(yingji.EncodingError):
        engine.push("{\"station\": \"\udcff\"}")  # a lone surrogate cannot be UTF-8
    with pytest.raises(yingji.EncodingError):
        engine.push_batch(b"\xf0\x28\x8c\x28\n")
    with pytest.raises(yingji.EncodingError):
        yingji.Definitions.from_text("bad.yj", b"event rain { mm: \xff }")
    assert engine.events == 0


def test_none_and_wrong_types() -> None:
    defs = yingji.Definitions.from_text("rain.yj", RAIN)
    engine = defs.engine()
    with pytest.raises(yingji.ArgumentError) as info:
        engine.push(None)  # type: ignore[arg-type]
    assert (info.value.code, info.value.status) == ("invalid_argument", 1)
    assert isinstance(info.value, TypeError)
    # the extension itself refuses them too
    with pytest.raises(yingji.ArgumentError, match="event must be str or bytes, not NoneType"):
        _native.Definitions.from_text("a.yj", RAIN).engine().push(None)  # type: ignore[arg-type]
    with pytest.raises(yingji.ArgumentError, match="text must be str or bytes, not int"):
        yingji.Definitions.from_text("a.yj", 42)  # type: ignore[arg-type]
    with pytest.raises(yingji.ArgumentError):
        yingji.Engine("policies")  # type: ignore[arg-type]
    with pytest.raises(yingji.ArgumentError):
        engine.level(None, "A")  # type: ignore[arg-type]
    assert engine.events == 0


def test_refused_events_change_nothing(engine: yingji.Engine) -> None:
    with pytest.raises(yingji.EventError) as info:
        engine.push({**GOOD, "mm": "lots"})
    assert not isinstance(info.value, yingji.MalformedJsonError)
    assert (info.value.code, info.value.status) == ("event", 5)
    assert "field `mm`" in info.value.message
    assert engine.push(GOOD) == []  # held back for the allowed lateness
    # a second gauge: one source's clock can no longer move the stream's
    assert engine.push({**GOOD, "station": "B", "mm": 0}) == []
    with pytest.raises(yingji.EventError, match="clock_suspect: A sent"):
        engine.push({**GOOD, "ts": "2024-08-29T00:00:00+08:00", "mm": 0})
    assert [o["to"] for o in engine.flush()] == ["red"]
    assert engine.level("s", "A") == "red"
    with pytest.raises(yingji.MalformedJsonError, match="cannot be written as JSON"):
        engine.push({**GOOD, "mm": float("nan")})  # not JSON at all: refused before sending
    assert engine.events == 4


def test_closed_engine_and_double_close(engine: yingji.Engine) -> None:
    engine.push(GOOD)
    engine.close()
    assert engine.closed
    with pytest.raises(yingji.ClosedError) as info:
        engine.close()
    assert (info.value.code, info.value.status) == ("bad_handle", 7)
    with pytest.raises(yingji.ClosedError):
        engine.push(GOOD)
    with pytest.raises(yingji.ClosedError):
        _ = engine.events
    assert repr(engine) == "<yingji.Engine closed>"


def test_unusable_snapshots_change_nothing(engine: yingji.Engine) -> None:
    engine.push(GOOD)
    with pytest.raises(yingji.StateError) as info:
        engine.restore("{}")
    assert (info.value.code, info.value.status) == ("state", 10)
    assert "not a valid yingji state file" in info.value.message
    with pytest.raises(yingji.StateError, match="version 99"):
        engine.restore('{"format": "yingji-state", "version": 99}')
    with pytest.raises(yingji.MalformedJsonError):
        engine.restore(b"\x7b")
    with pytest.raises(yingji.EncodingError):
        engine.restore(b"\xff")
    assert engine.events == 1
    assert [o["to"] for o in engine.flush()] == ["red"]


def test_assess_without_an_assessment_is_unsupported() -> None:
    with pytest.raises(yingji.UnsupportedError) as info:
        yingji.Definitions.from_text("rain.yj", RAIN).assess([{"town": "南溪镇"}])
    assert isinstance(info.value, NotImplementedError)
    assert (info.value.code, info.value.status) == ("unsupported", 6)
    assert "assessment" in info.value.message


def test_assess_the_sample_townships() -> None:
    import json
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[3]
    defs = yingji.Definitions.from_paths(root / "policies")
    records = [json.loads(l) for l in (root / "samples" / "records.jsonl").read_text(encoding="utf-8").splitlines() if l.strip()]
    result = defs.assess(records)
    units = {u["unit"]: u for a in result["assessments"] for u in a["units"]}
    assert units["青龙街道"]["vetoed"] is True
    assert units["青龙街道"]["vetoes"][0]["evidence"], "a veto names its records"
    assert result["rejected"] == []
