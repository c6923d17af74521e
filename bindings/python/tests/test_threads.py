"""Concurrent use of one engine raises yingji.BusyError, never pyo3's generic
RuntimeError("Already borrowed"), and loses or doubles no event."""

from __future__ import annotations

import threading
from typing import List

import pytest

import yingji

RAIN = ("event rain { station: string, mm: number }\n"
        "signal s { from rain key station let r = sum(mm, 1h) level red when r >= 100 }")


def _batch(n: int, station: str) -> str:
    return "\n".join(
        f'{{"ts":"2024-07-29T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}+08:00",'
        f'"kind":"rain","station":"{station}","mm":1}}'
        for i in range(n))


def _busy_while_batch(engine: yingji.Engine, call, rounds: int = 20) -> tuple[int, int, List[BaseException]]:
    """Runs `call` in a loop while another thread pushes a batch (which releases
    the GIL); returns (ok calls, busy errors, other exceptions)."""
    ok = busy = 0
    other: List[BaseException] = []
    batch = _batch(20000, "B")
    for _ in range(rounds):
        started = threading.Event()

        def run_batch() -> None:
            started.set()
            try:
                engine.push_batch(batch)
            except BaseException as e:  # noqa: BLE001 - collected and checked below
                other.append(e)

        t = threading.Thread(target=run_batch)
        t.start()
        started.wait()
        while t.is_alive():
            try:
                call()
                ok += 1
            except yingji.BusyError as e:
                assert isinstance(e, yingji.Error)
                assert (e.code, e.status) == ("busy", 11)
                assert "in use by another call" in e.message
                busy += 1
            except BaseException as e:  # noqa: BLE001
                other.append(e)
        t.join()
        if busy:
            break
    return ok, busy, other


def test_a_second_thread_gets_busy_error_not_runtime_error() -> None:
    engine = yingji.Definitions.from_text("rain.yj", RAIN).engine()
    pushed = 0

    def push() -> None:
        nonlocal pushed
        engine.push({"ts": "2024-07-29T00:00:00+08:00", "kind": "rain", "station": "P", "mm": 1})
        pushed += 1

    ok, busy, other = _busy_while_batch(engine, push)
    assert other == [], other
    assert busy > 0, "the batch never overlapped a push"
    assert ok == pushed
    # every push that returned was applied once, every refused one not at all
    batches = engine.events - pushed
    assert batches % 20000 == 0 and batches > 0


def test_close_while_in_use_is_busy_and_closes_nothing() -> None:
    engine = yingji.Definitions.from_text("rain.yj", RAIN).engine()
    batch = _batch(20000, "B")
    refused = 0
    for _ in range(20):
        started = threading.Event()
        t = threading.Thread(target=lambda: (started.set(), engine.push_batch(batch)))
        t.start()
        started.wait()
        while t.is_alive() and not engine.closed:
            try:
                engine.close()
            except yingji.BusyError:
                refused += 1
        t.join()
        if refused or engine.closed:
            break
    assert refused > 0, "the close never overlapped the batch"
    if not engine.closed:
        engine.close()
    assert engine.closed
    with pytest.raises(yingji.ClosedError):
        engine.push({"ts": "2024-07-29T00:00:00+08:00", "kind": "rain", "station": "P", "mm": 1})


def test_many_threads_hammering_one_engine() -> None:
    engine = yingji.Definitions.from_text("rain.yj", RAIN).engine()
    lock = threading.Lock()
    counts = {"ok": 0, "busy": 0}
    errors: List[BaseException] = []

    def worker(i: int) -> None:
        text = _batch(500, f"W{i}")
        for _ in range(20):
            try:
                engine.push_batch(text)
                with lock:
                    counts["ok"] += 1
            except yingji.BusyError:
                with lock:
                    counts["busy"] += 1
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert counts["ok"] + counts["busy"] == 80
    assert engine.events == counts["ok"] * 500
