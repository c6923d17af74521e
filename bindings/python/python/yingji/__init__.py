"""yingji (应急): warning signals, plans and assessments for county emergency management.

Load definitions, push events, read outputs::

    import yingji

    defs = yingji.Definitions.from_paths("policies/rainstorm.yj")   # DefinitionError if they don't compile
    engine = yingji.Engine(defs)
    for output in engine.push({"ts": "2024-07-29T03:10:00+08:00", "kind": "rain",
                               "station": "YY-004", "town": "南溪镇", "mm": 4.2}):
        print(output["type"], output.get("to"))

Events are dicts (or JSON text / bytes; a ``ts`` may be an aware
:class:`datetime.datetime`); outputs are dicts with a ``type``
(``"level_changed"``, ...), exactly as ``yingji run`` writes them, typed by
:mod:`yingji.outputs` (one ``TypedDict`` per type). Run settings (lateness,
late policy, max-ahead, idle expiry, dedupe, limits) are a :class:`Config`::

    engine = yingji.Engine(defs, yingji.Config(lateness="10m", max_ahead="3d"))
    engine = yingji.Engine(defs, lateness=timedelta(minutes=10), max_ahead="3d")   # the same, as keywords
 Every
failure is a :class:`yingji.Error` subclass with ``code`` and ``message``, and
:class:`DefinitionError` carries the ``diagnostics`` (a list of dicts).

An :class:`Engine` may be used from one thread at a time; a call while another
thread's call on the same engine runs raises :class:`BusyError` (nothing is done).
"""

from __future__ import annotations

import asyncio
import json
import os
import warnings
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import (Any, AsyncIterable, AsyncIterator, Dict, Iterable, Iterator, List, Mapping,
                    Optional, Union)

from . import _native, outputs
from ._errors import (
    ArgumentError,
    BusyError,
    ClosedError,
    ConfigError,
    DefinitionError,
    Diagnostic,
    EncodingError,
    Error,
    EventError,
    InternalError,
    MalformedJsonError,
    StateError,
    UnsupportedError,
)

__all__ = [
    "ArgumentError",
    "Batch",
    "BusyError",
    "ClosedError",
    "Config",
    "ConfigError",
    "DefinitionError",
    "Definitions",
    "Diagnostic",
    "EncodingError",
    "Engine",
    "Error",
    "EventError",
    "InternalError",
    "MalformedJsonError",
    "Output",
    "StateError",
    "UnsupportedError",
    "__version__",
]

__version__: str = _native.__version__

#: One output: a dict with ``type`` and the members of that type (a
#: ``TypedDict`` of :mod:`yingji.outputs`, generated from docs/schemas).
Output = outputs.Output
#: An event: a mapping (sent as JSON), or JSON text as ``str`` or UTF-8 ``bytes``.
EventLike = Union[Mapping[str, Any], str, bytes]
PathLike = Union[str, "os.PathLike[str]"]
#: A point in event time: RFC 3339 text with a UTC offset, or an aware datetime.
TimeLike = Union[str, datetime]


def _datetime_text(ts: datetime, what: str) -> str:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ArgumentError(f"{what} {ts.isoformat()!r} is a naive datetime: it has no UTC offset "
                            "(give an aware datetime, e.g. datetime(..., tzinfo=timezone(timedelta(hours=8))))",
                            code="invalid_argument", status=1)
    if ts.microsecond % 1000:
        raise ArgumentError(f"{what} {ts.isoformat()!r} has microseconds; yingji's times are milliseconds",
                            code="invalid_argument", status=1)
    return ts.isoformat(timespec="milliseconds" if ts.microsecond else "seconds")


def _time_text(ts: TimeLike) -> str:
    if isinstance(ts, datetime):
        return _datetime_text(ts, "the time")
    if isinstance(ts, str):
        return ts
    raise ArgumentError(f"a time must be RFC 3339 text or a datetime, not {type(ts).__name__}",
                        code="invalid_argument", status=1)


def _event_text(event: EventLike) -> Union[str, bytes]:
    if isinstance(event, (str, bytes)):
        return event
    if isinstance(event, Mapping):
        members = dict(event)
        for k, v in members.items():
            if isinstance(v, datetime):
                members[k] = _datetime_text(v, f"the event's `{k}`")
        try:
            return json.dumps(members, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as e:  # NaN, sets, objects: not JSON
            raise MalformedJsonError(f"the event cannot be written as JSON: {e}",
                                     code="malformed_json", status=3) from None
    raise ArgumentError(f"an event must be a mapping, str or bytes, not {type(event).__name__}",
                        code="invalid_argument", status=1)


def _looks_like_file_name(v: Any) -> bool:
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    return isinstance(v, str) and len(v.split()) == 1 and v.strip().endswith((".yj", ".yaml", ".yml"))


class Definitions:
    """Compiled definitions (policies, plans, event kinds).

    The constructors raise :class:`DefinitionError` when the definitions do not
    compile, unless ``check=False``: then inspect :attr:`ok` and
    :attr:`diagnostics`, and :meth:`engine` raises instead.
    """

    __slots__ = ("_native",)

    def __init__(self, native: _native.Definitions) -> None:
        self._native = native

    @classmethod
    def from_text(cls, *args: Union[str, bytes], name: Union[str, bytes, None] = None,
                  text: Union[str, bytes, None] = None, check: bool = True) -> "Definitions":
        """Loads one text: ``from_text(name, text)``, name first as in Rust and C;
        a ``name`` ending in ``.yaml``/``.yml`` selects YAML.

        In 0.1.0 the order was ``from_text(text, name="definitions.yj")``. The
        old forms that cannot be mistaken still work, with a
        :class:`DeprecationWarning`: ``from_text(text)`` (named
        ``definitions.yj``) and ``from_text(text, name=...)``. Two positional
        arguments are (name, text); when they look reversed (the second is a
        file name, the first is not) :class:`ArgumentError` is raised rather
        than guessing.
        """
        if len(args) > 2:
            raise ArgumentError(f"from_text takes (name, text), not {len(args)} arguments",
                                code="invalid_argument", status=1)
        if len(args) == 2:
            if name is not None or text is not None:
                raise ArgumentError("from_text(name, text): name or text given twice",
                                    code="invalid_argument", status=1)
            name, text = args
            if _looks_like_file_name(text) and not _looks_like_file_name(name):
                raise ArgumentError(
                    "Definitions.from_text takes (name, text), name first as in Rust and C (changed after 0.1.0); "
                    f"these arguments look reversed (the second, {text!r}, is a file name): "
                    "call from_text(name, text)", code="invalid_argument", status=1)
        elif len(args) == 1:
            if text is None:
                # the old form: the text first, the name (if any) as a keyword
                warnings.warn("Definitions.from_text(text[, name=...]) is deprecated: "
                              "call from_text(name, text), name first", DeprecationWarning, stacklevel=2)
                text = args[0]
                name = "definitions.yj" if name is None else name
            elif name is None:
                name = args[0]
            else:
                raise ArgumentError("from_text(name, text): name given twice",
                                    code="invalid_argument", status=1)
        if name is None or text is None:
            raise ArgumentError("from_text(name, text) needs both a name and a text",
                                code="invalid_argument", status=1)
        defs = cls(_native.Definitions.from_text(name, text))
        if check:
            defs.check()
        return defs

    @classmethod
    def from_paths(cls, *paths: PathLike, check: bool = True) -> "Definitions":
        """Loads ``.yj``/YAML files and folders (recursively)."""
        defs = cls(_native.Definitions.from_paths([os.fspath(p) for p in paths]))
        if check:
            defs.check()
        return defs

    @property
    def ok(self) -> bool:
        """Whether the definitions compiled."""
        return self._native.is_ok()

    def check(self) -> List[Diagnostic]:
        """The warnings; raises :class:`DefinitionError` if the definitions did not compile."""
        return json.loads(self._native.check())

    @property
    def diagnostics(self) -> List[Diagnostic]:
        """Every diagnostic (errors and warnings)."""
        return json.loads(self._native.diagnostics_json())

    def render(self) -> str:
        """Every diagnostic rendered as rustc-style text."""
        return self._native.rendered()

    @property
    def summary(self) -> Dict[str, Any]:
        """``{"ok", "files", "event_kinds", "signals", "warnings", "errors"}``."""
        return json.loads(self._native.summary_json())

    def engine(self, config: Optional["Config"] = None, **settings: Any) -> "Engine":
        """A new engine (see :class:`Engine` for ``config`` and ``settings``); raises
        :class:`DefinitionError` if the definitions did not compile."""
        return Engine(self, config, **settings)

    def assess(self, records: Union[Iterable[Mapping[str, Any]], str]) -> Any:
        """Assesses records (dicts or JSONL text): scores, vetoes with evidence, grades.

        Raises :class:`UnsupportedError` when the definitions hold no assessment.
        """
        text = records if isinstance(records, str) else json.dumps(list(records), ensure_ascii=False)
        return json.loads(self._native.assess(text))

    def __repr__(self) -> str:
        s = self.summary
        return f"<yingji.Definitions ok={s['ok']} signals={s['signals']!r}>"


DurationLike = Union[str, timedelta]


def _config_error(name: str, problem: str) -> "ConfigError":
    return ConfigError(f"setting `{name}`: {problem}", code="config", status=12,
                       detail={"reason": "bad_config", "field": name})


def _duration_text(name: str, v: Any) -> Any:
    if isinstance(v, timedelta):
        ms = v // timedelta(milliseconds=1)
        if timedelta(milliseconds=ms) != v:
            raise _config_error(name, f"{v!r} is not a whole number of milliseconds")
        if ms < 0:
            raise _config_error(name, f"{v!r} is negative")
        return f"{ms}ms"
    return v


@dataclass(frozen=True)
class Config:
    """Run settings of an :class:`Engine`, the one configuration of every
    binding, named like ``yingji run``'s flags. Durations are text (``"30s"``,
    ``"5m"``, ``"2h"``, ``"1d"``) or :class:`datetime.timedelta`. Values are
    checked when an engine is made: a bad one raises :class:`ConfigError`
    naming it (``e.field``).

    A snapshot records the settings its state depends on: restoring it into
    an engine with another ``lateness`` or ``dedupe_kind_key_ts`` raises
    :class:`StateError` (reason ``"config_mismatch"``).
    """

    #: Allowed lateness (events older than the clock minus this are late).
    lateness: DurationLike = "5m"
    #: ``"emit"`` a ``late`` output and leave the event out, or ``"apply"`` it flagged.
    late: str = "emit"
    #: Refuse events further ahead of the stream's clock than this; ``None`` or ``"off"``: no guard.
    max_ahead: Optional[DurationLike] = "1d"
    #: Forget keys silent for this long; ``None`` or ``"off"``: never.
    idle_ttl: Optional[DurationLike] = None
    #: Also treat events with the same kind, key and time as duplicates (same ``id`` always are).
    dedupe_kind_key_ts: bool = False
    #: The longest event accepted, in bytes.
    max_line: int = 1 << 20

    def to_json(self) -> str:
        """The JSON object the engine reads."""
        members: Dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in ("lateness", "max_ahead", "idle_ttl"):
                v = _duration_text(f.name, v)
            if f.name == "max_line" and (isinstance(v, bool) or not isinstance(v, int)):
                raise _config_error(f.name, f"`{v!r}`: use a number of bytes, like 1048576")
            members[f.name] = v
        try:
            return json.dumps(members)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"the configuration cannot be written as JSON: {e}", code="config",
                              status=12, detail={"reason": "bad_config"}) from None


_CONFIG_FIELDS = tuple(f.name for f in fields(Config))


@dataclass(frozen=True)
class Batch:
    """What :meth:`Engine.push_batch` produced; iterating yields the outputs."""

    outputs: List[Output] = field(default_factory=list)
    accepted: int = 0
    #: Refused events: dicts with ``event`` (its number), ``index`` (position in
    #: the batch, from 1), ``code`` and ``message``.
    rejected: List[Dict[str, Any]] = field(default_factory=list)

    def __iter__(self) -> Iterator[Output]:
        return iter(self.outputs)

    def __len__(self) -> int:
        return len(self.outputs)


class Engine:
    """A running engine over :class:`Definitions`.

    Every event pushed, accepted or refused, takes the next number (from 1);
    outputs name the event that caused them by that number (``output["event"]``).
    The engine holds events back for the allowed lateness (5 minutes of event
    time) to put late arrivals in order, so outputs may come with later events;
    :meth:`flush` releases the rest at the end of a stream.
    Use from one thread at a time: a call while another thread's call on this
    engine runs raises :class:`BusyError` and does nothing. ``close()`` (or a ``with`` block) releases
    the state early; a closed engine raises :class:`ClosedError`.
    """

    __slots__ = ("_native",)

    def __init__(self, definitions: Definitions, config: Optional[Config] = None, **settings: Any) -> None:
        """``config``: a :class:`Config`; or give its fields as keywords
        (``Engine(defs, lateness="10m")``), not both. Without either, the defaults."""
        if not isinstance(definitions, Definitions):
            raise ArgumentError(f"Engine() takes yingji.Definitions, not {type(definitions).__name__}",
                                code="invalid_argument", status=1)
        if config is not None and not isinstance(config, Config):
            raise ArgumentError(f"config must be a yingji.Config, not {type(config).__name__}",
                                code="invalid_argument", status=1)
        if settings:
            unknown = sorted(set(settings) - set(_CONFIG_FIELDS))
            if unknown:
                raise ConfigError(f"unknown setting `{unknown[0]}` (the settings are: "
                                  f"{', '.join(_CONFIG_FIELDS)})", code="config", status=12,
                                  detail={"reason": "bad_config", "field": unknown[0]})
            if config is not None:
                raise ArgumentError("give a Config or keyword settings, not both",
                                    code="invalid_argument", status=1)
            config = Config(**settings)
        native = definitions._native
        self._native = native.engine() if config is None else native.engine(config.to_json())

    def push(self, event: EventLike) -> List[Output]:
        """Applies one event and returns its outputs (often none).

        Raises :class:`MalformedJsonError` for text that is not a JSON object and
        :class:`EventError` for an event the engine cannot use; either way
        nothing is applied.
        """
        return json.loads(self._native.push(_event_text(event)))

    def push_batch(self, events: Union[str, bytes, Iterable[EventLike]]) -> Batch:
        """Applies many events: JSONL text (``str``/``bytes``), or an iterable of events.

        Refused events do not stop the batch; they are listed in
        :attr:`Batch.rejected`.
        """
        if isinstance(events, (str, bytes)):
            text: Union[str, bytes] = events
        else:
            parts = []
            for e in events:
                t = _event_text(e)
                parts.append(t.decode("utf-8", "surrogateescape") if isinstance(t, bytes) else t)
            # one event per line; a line break inside an event would split it
            text = "\n".join(p.replace("\r", " ").replace("\n", " ") for p in parts)
        result = json.loads(self._native.push_batch(text))
        return Batch(outputs=result["outputs"], accepted=result["accepted"], rejected=result["rejected"])

    def run(self, events: Iterable[EventLike], *, flush: bool = True) -> Iterator[Output]:
        """Pushes events one by one, lazily, yielding every output; at the end
        (unless ``flush=False``) yields what :meth:`flush` releases.

        A refused event raises (:class:`EventError`) at the point it is reached.
        """
        for event in events:
            yield from self.push(event)
        if flush:
            yield from self.flush()

    async def stream(self, events: Union[AsyncIterable[EventLike], Iterable[EventLike]], *,
                     flush: bool = True, refused: str = "raise") -> AsyncIterator[Output]:
        """:meth:`run` for asyncio: ``async for out in engine.stream(feed)``.

        Each event is pushed in the loop's default executor (the GIL is released
        while the engine works), so the event loop keeps running; outputs are
        yielded as they come, and at the end (unless ``flush=False``) what
        :meth:`flush` releases. ``refused="raise"`` raises the first refused
        event's :class:`EventError`; ``refused="skip"`` leaves it out and goes on
        (the engine numbered it, as every refused event).
        """
        if refused not in ("raise", "skip"):
            raise ArgumentError(f"refused must be 'raise' or 'skip', not {refused!r}",
                                code="invalid_argument", status=1)
        loop = asyncio.get_running_loop()

        async def one(event: EventLike) -> List[Output]:
            try:
                return await loop.run_in_executor(None, self.push, event)
            except EventError:
                if refused == "raise":
                    raise
                return []

        if hasattr(events, "__aiter__"):
            async for event in events:  # type: ignore[union-attr]
                for out in await one(event):
                    yield out
        else:
            for event in events:  # type: ignore[union-attr]
                for out in await one(event):
                    yield out
        if flush:
            for out in await loop.run_in_executor(None, self.flush):
                yield out

    def flush(self) -> List[Output]:
        """End of stream: the outputs of every event still held back for lateness."""
        return json.loads(self._native.flush())

    def advance_to(self, ts: TimeLike) -> List[Output]:
        """Moves the clock to ``ts`` as if an empty event stamped ``ts`` had arrived,
        and returns what that releases: events held back for lateness, timers,
        absences and plan escalations due by then.

        ``ts`` is RFC 3339 text with a UTC offset (``"2024-07-29T03:10:00+08:00"``)
        or an aware :class:`datetime.datetime`. A time at or before the clock
        changes nothing and returns ``[]``. Raises :class:`ArgumentError` for a
        time that cannot be read (the engine is then unchanged).
        """
        return json.loads(self._native.advance_to(_time_text(ts)))

    def finish(self, until: Optional[TimeLike] = None) -> List[Output]:
        """End of input: releases every event held back (as :meth:`flush`), then,
        with ``until``, runs the clock to ``until`` so that timers and absences due
        by then fire; returns the outputs.

        Raises :class:`ArgumentError` when ``until`` cannot be read or is earlier
        than the clock; the engine is then unchanged.
        """
        return json.loads(self._native.finish(None if until is None else _time_text(until)))

    @property
    def clock(self) -> Optional[str]:
        """The stream's clock: the event time reached, as RFC 3339 text
        (``None`` before the first event)."""
        return self._native.clock()

    def level(self, signal: str, key: str) -> str:
        """Current level of ``key`` in ``signal``: ``"none"``, ``"blue"`` … ``"red"``."""
        return self._native.level(signal, key)

    @property
    def events(self) -> int:
        """How many events have been pushed (accepted or refused)."""
        return self._native.events()

    def snapshot(self) -> str:
        """The complete state as a JSON document (as ``yingji run --state`` writes it)."""
        return self._native.snapshot()

    def restore(self, snapshot: Union[str, bytes]) -> Dict[str, List[str]]:
        """Resumes from a :meth:`snapshot`; returns ``{"kept": [...], "reset": [...]}``
        (signals whose definition changed start afresh).

        Raises :class:`MalformedJsonError` for text that is not JSON and
        :class:`StateError` for a document that is not a usable snapshot;
        either way the engine is unchanged.
        """
        return json.loads(self._native.restore(snapshot))

    def close(self) -> None:
        """Releases the state; closing twice raises :class:`ClosedError`."""
        self._native.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._native.is_closed()

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.closed:
            self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"events={self.events}"
        return f"<yingji.Engine {state}>"
