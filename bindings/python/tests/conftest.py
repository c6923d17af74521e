"""Shared fixtures: the repository root and what the CLI prints for the sample."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Dict, List

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def root() -> Path:
    assert (ROOT / "policies" / "rainstorm.yj").is_file(), ROOT
    return ROOT


@pytest.fixture(scope="session")
def cli_outputs(root: Path) -> List[Dict[str, Any]]:
    """Outputs of `yingji run policies/rainstorm.yj --events samples/rain.jsonl`.

    test.sh writes them to the file named by YINGJI_CLI_OUTPUTS; without it,
    the CLI is run here.
    """
    path = os.environ.get("YINGJI_CLI_OUTPUTS")
    if path:
        text = Path(path).read_text(encoding="utf-8")
    else:
        text = subprocess.run(
            ["cargo", "run", "--quiet", "--", "run", "policies/rainstorm.yj", "--events", "samples/rain.jsonl"],
            cwd=root, check=True, capture_output=True, text=True,
        ).stdout
    outputs = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert outputs, "the CLI printed no outputs"
    return outputs
