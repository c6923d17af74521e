"""Exceptions raised by yingji, one class per error code of the boundary.

Every exception is a :class:`yingji.Error` carrying

* ``code`` – a stable name (``"definitions"``, ``"event"``, ``"malformed_json"``, ...),
* ``status`` – the same code as a number (as ``YJ_ERR_*`` in the C header),
* ``message`` – what went wrong,
* ``diagnostics`` – a list of dicts (``severity``, ``code``, ``message``, ``file``,
  ``line``, ``column``, ``end_line``, ``end_column``, ``label``, ``hint``); empty
  unless the definitions did not compile,
* ``reason`` – a stable word refining the code, or ``None``: every event error
  has one (``"missing_field"``, ``"wrong_type"``, ``"bad_timestamp"``,
  ``"not_json"``, ``"too_far_ahead"``, ``"clock_suspect"``, ``"too_long"``, ...);
  a bad setting is ``"bad_config"``, a snapshot taken with another lateness or
  ``dedupe_kind_key_ts`` ``"config_mismatch"``,
* ``detail`` – a dict: ``reason`` and what it names (``field``, ``kind``,
  ``member``, ``sender``); empty when there is none.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

Diagnostic = Dict[str, Any]


class Error(Exception):
    """Base class of every yingji error."""

    code: str
    status: int
    message: str
    diagnostics: List[Diagnostic]
    detail: Dict[str, Any]

    def __init__(self, message: str, *, code: str = "internal", status: int = 9,
                 diagnostics: List[Diagnostic] | None = None,
                 detail: Dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.diagnostics = list(diagnostics or [])
        self.detail = dict(detail or {})

    @property
    def reason(self) -> Optional[str]:
        """The detail's ``reason`` (``"missing_field"``, ``"bad_config"``, ...), or ``None``."""
        r = self.detail.get("reason")
        return r if isinstance(r, str) else None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class ArgumentError(Error, TypeError):
    """An argument of the wrong type or value (code ``invalid_argument``)."""


class ConfigError(ArgumentError, ValueError):
    """A run setting the engine cannot use (code ``config``, reason
    ``bad_config``): not a JSON object, an unknown setting or a bad value;
    :attr:`field` names it."""

    @property
    def field(self) -> Optional[str]:
        """The setting (``"lateness"``, ``"max_ahead"``, ...), or ``None`` for the whole config."""
        f = self.detail.get("field")
        return f if isinstance(f, str) else None


class EncodingError(Error, ValueError):
    """Text that is not valid UTF-8 (code ``invalid_utf8``)."""


class DefinitionError(Error):
    """Definitions that did not compile (code ``definitions``); see ``diagnostics``."""

    def __str__(self) -> str:
        lines = [self.message]
        for d in self.diagnostics:
            where = f"{d.get('file')}:{d.get('line')}:{d.get('column')}"
            hint = f" (help: {d['hint']})" if d.get("hint") else ""
            lines.append(f"  {d.get('severity')}[{d.get('code')}] {where}: {d.get('message')}{hint}")
        return "\n".join(lines)


class EventError(Error, ValueError):
    """An event the engine refused (code ``event``); nothing was applied."""


class MalformedJsonError(EventError):
    """Text that should be JSON and is not (code ``malformed_json``); nothing was applied."""


class UnsupportedError(Error, NotImplementedError):
    """A feature this build does not provide yet (code ``unsupported``)."""


class StateError(Error, ValueError):
    """A snapshot that cannot be restored (code ``state``); the engine is unchanged."""


class ClosedError(Error):
    """An engine used after :meth:`yingji.Engine.close` (code ``bad_handle``)."""


class BusyError(Error, RuntimeError):
    """The engine is in use by a call on another thread (code ``busy``); nothing
    was done. Use an engine from one thread at a time (or a lock), or retry."""


class InternalError(Error):
    """A bug in yingji (codes ``panic`` and ``internal``); please report it."""


_BY_CODE = {
    "invalid_argument": ArgumentError,
    "invalid_utf8": EncodingError,
    "malformed_json": MalformedJsonError,
    "definitions": DefinitionError,
    "event": EventError,
    "unsupported": UnsupportedError,
    "bad_handle": ClosedError,
    "panic": InternalError,
    "internal": InternalError,
    "state": StateError,
    "busy": BusyError,
    "config": ConfigError,
}


def from_code(status: int, code: str, message: str, diagnostics_json: str,
              detail_json: str = "{}") -> Error:
    """Builds the exception for an error of the boundary (called by the extension)."""
    try:
        diagnostics = json.loads(diagnostics_json)
    except ValueError:
        diagnostics = []
    try:
        detail = json.loads(detail_json)
    except ValueError:
        detail = {}
    if not isinstance(detail, dict):
        detail = {}
    cls = _BY_CODE.get(code, Error)
    if detail.get("reason") == "bad_config":
        cls = ConfigError
    return cls(message, code=code, status=status, diagnostics=diagnostics, detail=detail)
