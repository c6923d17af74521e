"""The rainstorm scenario from Python: the same outputs as the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List

import pytest

import yingji

SIGNAL = "暴雨预警"


SAMPLE_LINES = sum(
    1 for line in (Path(__file__).resolve().parents[3] / "samples" / "rain.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()
)


def level_changes(outputs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [o for o in outputs if o["type"] == "level_changed"]


@pytest.fixture()
def in_root(root: Path):
    old = os.getcwd()
    os.chdir(root)
    yield root
    os.chdir(old)


def test_line_by_line_matches_cli(in_root: Path, cli_outputs: List[Dict[str, Any]]) -> None:
    defs = yingji.Definitions.from_paths("policies/rainstorm.yj")
    assert defs.ok and defs.check() == []
    assert defs.summary["signals"] == [SIGNAL]
    assert defs.summary["event_kinds"] == ["rain"]
    engine = yingji.Engine(defs)
    outputs: List[Dict[str, Any]] = []
    with open("samples/rain.jsonl", encoding="utf-8") as f:
        for line in f:
            outputs.extend(engine.push(line.rstrip("\n")))
    outputs.extend(engine.flush())  # end of stream: what the lateness held back
    assert engine.events == SAMPLE_LINES
    assert len(level_changes(outputs)) == len(level_changes(cli_outputs)) > 0
    assert outputs == cli_outputs
    yy004 = [(o["from"], o["to"]) for o in outputs if o["key"] == "YY-004"]
    assert ("orange", "red") in yy004, yy004
    red = next(o for o in outputs if o["key"] == "YY-004" and o["to"] == "red")
    assert red["signal"] == SIGNAL
    assert red["rule"] == "red when r3 >= 100"
    assert red["values"]["r3"] >= 100


def test_batch_of_bytes_matches_cli(root: Path, cli_outputs: List[Dict[str, Any]]) -> None:
    text = (root / "policies" / "rainstorm.yj").read_text(encoding="utf-8")
    # named as the CLI sees it, so `rule_at` is the same
    defs = yingji.Definitions.from_text("policies/rainstorm.yj", text)
    engine = defs.engine()
    batch = engine.push_batch((root / "samples" / "rain.jsonl").read_bytes())
    assert batch.accepted == SAMPLE_LINES and batch.rejected == []
    assert [*batch, *engine.flush()] == cli_outputs
    assert 0 < len(batch) <= len(cli_outputs)
    assert engine.level(SIGNAL, "YY-004") != "red"  # the storm has passed by the end
    assert engine.level(SIGNAL, "nowhere") == "none"


def test_run_iterates_over_outputs_of_dict_events(root: Path, cli_outputs: List[Dict[str, Any]]) -> None:
    defs = yingji.Definitions.from_text("policies/rainstorm.yj",
                                        (root / "policies" / "rainstorm.yj").read_bytes())
    events = (json.loads(line) for line in (root / "samples" / "rain.jsonl").open(encoding="utf-8"))
    with defs.engine() as engine:
        it = engine.run(events)
        first = next(it)
        assert first == cli_outputs[0]
        assert first["event"] <= engine.events < SAMPLE_LINES  # lazily: stopped soon after the first output
        assert [first, *it] == cli_outputs  # run() flushes at the end
    assert engine.closed


def test_batch_of_dicts_lists_refused_events() -> None:
    defs = yingji.Definitions.from_text(
        "rain.yj",
        "event rain { station: string, mm: number }\n"
        "signal s { from rain key station let r = sum(mm, 1h) level red when r >= 10 }")
    engine = defs.engine()
    batch = engine.push_batch([
        {"ts": "2024-07-29T01:00:00+08:00", "kind": "rain", "station": "A", "mm": 4},
        '{"ts": "2024-07-29T01:05:00+08:00",\n "kind": "rain", "station": "A", "mm": 1}',
        {"ts": "2024-07-29T01:10:00+08:00", "kind": "rain", "station": "A", "mm": "lots"},
        b"{not json",
        {"ts": "2024-07-29T01:20:00+08:00", "kind": "rain", "station": "A", "mm": 6},
    ])
    assert batch.accepted == 3
    assert [(r["event"], r["index"], r["code"]) for r in batch.rejected] == [(3, 3, "event"), (4, 4, "malformed_json")]
    assert "field `mm`" in batch.rejected[0]["message"]
    assert [(o["from"], o["to"], o["event"]) for o in [*batch, *engine.flush()]] == [("none", "red", 5)]


def test_snapshot_halfway_and_restore_in_a_new_engine(root: Path, cli_outputs: List[Dict[str, Any]]) -> None:
    defs = yingji.Definitions.from_text("policies/rainstorm.yj",
                                        (root / "policies" / "rainstorm.yj").read_text(encoding="utf-8"))
    lines = (root / "samples" / "rain.jsonl").read_text(encoding="utf-8").splitlines()
    first = defs.engine()
    outputs = [o for line in lines[:1296] for o in first.push(line)]
    snapshot = first.snapshot()
    first.close()
    assert json.loads(snapshot)["format"] == "yingji-state"

    second = defs.engine()
    assert second.restore(snapshot) == {"kept": [SIGNAL], "reset": []}
    assert second.events == 1296
    outputs += second.run(lines[1296:])
    assert outputs == cli_outputs


def test_package_is_typed() -> None:
    pkg = Path(yingji.__file__).parent
    assert (pkg / "py.typed").is_file()
    assert (pkg / "_native.pyi").is_file()
    assert yingji.__version__ == "0.1.0"
