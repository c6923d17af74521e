"""Typed outputs: the TypedDicts are current with docs/schemas, and real
outputs of the sample (and of plans) validate against the schemas."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, get_type_hints

import jsonschema
import pytest

import yingji
from yingji import outputs

HERE = Path(__file__).resolve().parent
SCHEMAS = HERE.parents[2] / "docs" / "schemas"


def test_typed_outputs_are_generated_from_the_current_schemas() -> None:
    # the installed wheel's module must equal what the generator writes now
    gen = HERE.parent / "gen_outputs.py"
    run = subprocess.run([sys.executable, str(gen), "--check"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    installed = Path(outputs.__file__).read_text(encoding="utf-8")
    assert installed == (HERE.parent / "python" / "yingji" / "outputs.py").read_text(encoding="utf-8")
    names = sorted(p.name[: -len(".schema.json")] for p in SCHEMAS.glob("*.schema.json"))
    assert list(outputs.OUTPUT_TYPES) == names and len(names) > 20
    hints = get_type_hints(outputs.LevelChanged)
    assert set(hints) >= {"type", "id", "from", "to", "event", "reason"}


def validators() -> Dict[str, Any]:
    out = {}
    for p in SCHEMAS.glob("*.schema.json"):
        schema = json.loads(p.read_text(encoding="utf-8"))
        jsonschema.Draft202012Validator.check_schema(schema)
        out[schema["title"]] = jsonschema.Draft202012Validator(schema)
    return out


def test_the_samples_outputs_validate_against_the_schemas(root: Path) -> None:
    checks = validators()
    defs = yingji.Definitions.from_paths(root / "policies" / "rainstorm.yj")
    engine = yingji.Engine(defs)
    batch = engine.push_batch((root / "samples" / "rain.jsonl").read_bytes())
    got = [*batch, *engine.finish("2024-08-01T12:00:00+08:00")]
    assert len(got) > 10
    seen = set()
    for o in got:
        checks[o["type"]].validate(o)
        seen.add(o["type"])
    assert "level_changed" in seen


def test_plan_outputs_validate_against_the_schemas(root: Path) -> None:
    checks = validators()
    plans = root / "plans"
    if not plans.is_dir():
        pytest.fail(f"{plans} is missing")
    defs = yingji.Definitions.from_paths(root / "policies", plans)
    engine = yingji.Engine(defs)
    events = (root / "samples" / "rain.jsonl").read_bytes()
    got = [*engine.push_batch(events), *engine.finish("2024-08-01T12:00:00+08:00")]
    types = {o["type"] for o in got}
    for o in got:
        checks[o["type"]].validate(o)
    assert len(types) >= 3, types


RAIN = ("event rain { station: string, mm: number }\n"
        "signal s { from rain key station let r = sum(mm, 1h) level red when r >= 10 }")


def test_stream_from_asyncio(root: Path, cli_outputs: List[Dict[str, Any]], monkeypatch) -> None:
    monkeypatch.chdir(root)  # outputs name the policy file as the CLI does
    defs = yingji.Definitions.from_paths("policies/rainstorm.yj")
    lines = (root / "samples" / "rain.jsonl").read_text(encoding="utf-8").splitlines()

    async def feed():
        for line in lines:
            yield line
            await asyncio.sleep(0)

    async def main() -> List[Dict[str, Any]]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        t = asyncio.ensure_future(ticker())
        got = [o async for o in yingji.Engine(defs).stream(feed())]
        t.cancel()
        assert ticks > 100  # the loop kept running while the engine worked
        return got

    assert asyncio.run(main()) == cli_outputs

    async def refused(mode: str) -> List[Dict[str, Any]]:
        engine = yingji.Engine(yingji.Definitions.from_text("rain.yj", RAIN))
        events = [{"ts": "2024-07-29T01:00:00+08:00", "kind": "rain", "station": "A", "mm": 12}, "{oops"]
        return [o async for o in engine.stream(events, refused=mode)]

    assert [o["to"] for o in asyncio.run(refused("skip"))] == ["red"]
    with pytest.raises(yingji.MalformedJsonError):
        asyncio.run(refused("raise"))
