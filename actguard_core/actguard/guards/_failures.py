"""Classify a tool's exception into a failure kind, so a circuit breaker can count only dependency trouble.

Kinds (:data:`FAILURE_KINDS`) and how an exception is classified, first match wins:

1. ``timeout``: a ``TimeoutError`` (including :class:`actguard.ToolTimeoutError`, ``socket.timeout`` and
   ``asyncio.TimeoutError``).
2. An HTTP status found on the exception (``status_code`` or ``status``, or the same on its ``response``), as raised
   by httpx, requests, aiohttp and the OpenAI / Anthropic SDKs: 408 ``timeout``, 429 ``throttled``, 401 / 403
   ``auth``, 404 / 410 ``not_found``, 409 / 412 ``conflict``, other 4xx ``invalid_input``, 5xx ``overloaded``.
3. The exception's class names (its MRO), for libraries actguard does not import: ``...Timeout...`` ``timeout``;
   ``...RateLimit...`` / ``...Throttl...`` ``throttled``; ``...Connect...`` / ``...Transport...`` /
   ``...Network...`` ``transport``; ``...Authentication...`` / ``...Permission...`` / ``...Unauthorized...``
   ``auth``; ``...NotFound...`` ``not_found``; ``...Conflict...`` ``conflict``.
4. Builtins: ``ConnectionError`` and ``socket.gaierror`` ``transport``; ``PermissionError`` ``auth``;
   ``FileNotFoundError`` / ``LookupError`` ``not_found``; ``FileExistsError`` ``conflict``; ``ValueError`` /
   ``TypeError`` ``invalid_input``.
5. Anything else: ``unknown``.
"""

from __future__ import annotations

import sys
from typing import Literal

__all__ = ["FAILURE_KINDS", "FailureKind", "failure_kind"]

FailureKind = Literal[
    "transport", "timeout", "overloaded", "throttled", "auth", "invalid_input", "not_found", "conflict", "unknown"
]
FAILURE_KINDS: tuple[FailureKind, ...] = (
    "transport",
    "timeout",
    "overloaded",
    "throttled",
    "auth",
    "invalid_input",
    "not_found",
    "conflict",
    "unknown",
)

# asyncio's and concurrent.futures' TimeoutError are the builtin one since 3.11; on 3.10 they are distinct classes
# (asyncio is imported only there: it is most of `import actguard`'s time otherwise).
if sys.version_info >= (3, 11):
    _TIMEOUTS: tuple[type[BaseException], ...] = (TimeoutError,)
else:  # pragma: no cover - Python 3.10
    import asyncio
    import concurrent.futures

    _TIMEOUTS = (TimeoutError, asyncio.TimeoutError, concurrent.futures.TimeoutError)

_NAME_HINTS: tuple[tuple[str, FailureKind], ...] = (
    ("timeout", "timeout"),
    ("ratelimit", "throttled"),
    ("throttl", "throttled"),
    ("connect", "transport"),
    ("transport", "transport"),
    ("network", "transport"),
    ("authentication", "auth"),
    ("permission", "auth"),
    ("unauthorized", "auth"),
    ("notfound", "not_found"),
    ("conflict", "conflict"),
)

_BUILTINS: tuple[tuple[type[BaseException], FailureKind], ...] = (
    (ConnectionError, "transport"),
    (PermissionError, "auth"),
    (FileNotFoundError, "not_found"),
    (FileExistsError, "conflict"),
    (LookupError, "not_found"),
    (ValueError, "invalid_input"),
    (TypeError, "invalid_input"),
)


def _status(exc: BaseException) -> int | None:
    for holder in (exc, getattr(exc, "response", None)):
        if holder is None:
            continue
        for attr in ("status_code", "status"):
            value = getattr(holder, attr, None)
            if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
                return value
    return None


def _by_status(status: int) -> FailureKind | None:
    if status == 408:
        return "timeout"
    if status == 429:
        return "throttled"
    if status in (401, 403):
        return "auth"
    if status in (404, 410):
        return "not_found"
    if status in (409, 412):
        return "conflict"
    if 400 <= status < 500:
        return "invalid_input"
    if status >= 500:
        return "overloaded"
    return None


def failure_kind(exc: BaseException) -> FailureKind:
    """The kind of failure ``exc`` reports (see the module docstring for the rules)."""
    if isinstance(exc, _TIMEOUTS):
        return "timeout"
    status = _status(exc)
    if status is not None:
        kind = _by_status(status)
        if kind is not None:
            return kind
    for cls in type(exc).__mro__:
        if cls.__module__ == "builtins":
            continue
        lowered = cls.__name__.lower()
        for hint, hinted in _NAME_HINTS:
            if hint in lowered:
                return hinted
    socket = sys.modules.get("socket")  # a gaierror exists only once socket is imported (not imported here: it is slow)
    if socket is not None and isinstance(exc, socket.gaierror):
        return "transport"
    for builtin, kind in _BUILTINS:
        if isinstance(exc, builtin):
            return kind
    return "unknown"
