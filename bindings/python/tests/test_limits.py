"""Hostile definitions (deep nesting, long chains) raise DefinitionError with
an E0005 diagnostic instead of crashing the interpreter, on a 512 KiB thread too."""

from __future__ import annotations

import threading
from typing import List

import pytest

import yingji

EVENT = "event rain { station: string, mm: number }\n"


def policy(expr: str) -> str:
    return EVENT + "signal s { from rain key station let x = " + expr + "\n  level red when mm > 1 }\n"


HOSTILE = {
    "9,000 nested parentheses": "(" * 9_000 + "mm" + ")" * 9_000,
    "50,000 nested parentheses": "(" * 50_000 + "mm" + ")" * 50_000,
    "a 10,000-term sum": " + ".join(["mm"] * 10_000),
    "a 500-term sum": " + ".join(["mm"] * 500),
    "10,000 `not`": "not " * 10_000 + "mm > 1",
    "10,000 unary `-`": "-" * 10_000 + "mm",
}


def expect_e0005(expr: str) -> None:
    with pytest.raises(yingji.DefinitionError) as info:
        yingji.Definitions.from_text("hostile.yj", policy(expr))
    [d] = info.value.diagnostics
    assert (d["code"], d["file"], d["line"]) == ("E0005", "hostile.yj", 2)
    assert d["message"] in (
        "expression nested more than 64 levels deep",
        "expression has more than 128 operators",
    )


@pytest.mark.parametrize("what", sorted(HOSTILE))
def test_hostile_expression_is_a_definition_error(what: str) -> None:
    expect_e0005(HOSTILE[what])


def test_hostile_expressions_on_a_512_kib_thread() -> None:
    errors: List[BaseException] = []

    def run() -> None:
        try:
            for expr in HOSTILE.values():
                expect_e0005(expr)
            # the largest sum the limits allow still loads there
            yingji.Definitions.from_text("limit.yj", policy(" + ".join(["mm"] * 129))).engine()
        except BaseException as e:  # noqa: BLE001 - reported in the main thread
            errors.append(e)

    old = threading.stack_size(512 * 1024)
    try:
        t = threading.Thread(target=run)
        t.start()
        t.join()
    finally:
        threading.stack_size(old)
    assert not errors, errors
