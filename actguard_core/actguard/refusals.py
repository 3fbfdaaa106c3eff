"""The refusal rule, for framework adapters: which actguard errors go back to the model, with what text.

A guarded tool can fail in two ways, and they must never be confused:

- **A refusal the agent can recover from**: rate limited, circuit open, timed out, too many attempts, a duplicate
  or in-progress idempotency key, a chain-of-custody rule (missing fact, threshold, blocked pattern...). The model
  can wait, use another tool, read first, or stop; with ``on_refusal="message"`` (the default) the adapter hands it
  back as the tool's result, with :func:`refusal_text`, and reports ``tool_guard`` / ``refusal`` /
  ``returned_to_model``.
- **Everything else is raised to the caller**, whatever ``on_refusal`` says: a spent budget (the run must stop),
  an unreachable store (:class:`~actguard.StoreUnavailable`: infrastructure, and its message names hosts that do
  not belong in a prompt), configuration and programming errors (:class:`~actguard.ConfigError`,
  :class:`~actguard.MissingRuntimeContextError`, a custody check outside any session: ``GuardError("NO_SESSION")``),
  an unpriced model, and every error that is not actguard's.

:func:`returned_to_model` is the one verb adapters call: it applies the rule (returning the text, or raising the
error again) and emits the event.

Some frameworks (CrewAI, LlamaIndex's agents) catch whatever a tool raises and put its text in the next prompt, so
raising is not enough there. Their adapters :func:`park` the error (the tool returns a placeholder instead) and,
at the framework's next model call of the run, find it again with :func:`parked_in` and raise it before the model
is called: the model never sees it, the caller gets it.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Literal, get_args

from actguard.exceptions import ConfigError, GuardError, ToolGuardError
from actguard.reporting import emit

__all__ = [
    "RECOVERABLE",
    "REFUSAL_MODES",
    "OnRefusal",
    "check_on_refusal",
    "is_recoverable",
    "park",
    "parked_in",
    "refusal_text",
    "returned_to_model",
]

OnRefusal = Literal["message", "raise"]
"""``"message"``: a recoverable refusal reaches the model as the tool's result; ``"raise"``: it propagates."""

REFUSAL_MODES: tuple[str, ...] = get_args(OnRefusal)

RECOVERABLE: tuple[type[Exception], ...] = (ToolGuardError, GuardError)
"""The error types a recoverable refusal can have (see :func:`is_recoverable` for the exact rule)."""

_WIRING_CODES = frozenset({"NO_SESSION"})  # custody refusals only the application can fix


def check_on_refusal(value: object, where: str) -> OnRefusal:
    """``value`` when it is a refusal mode, else ConfigError naming ``where`` (``"guard_tool(on_refusal=...)"``)."""
    if value not in REFUSAL_MODES:
        raise ConfigError(f"{where} must be one of {REFUSAL_MODES}, got {value!r}")
    return value  # type: ignore[return-value]


def is_recoverable(error: BaseException) -> bool:
    """Whether ``error`` is a refusal the model can act on (see the module docstring); everything else is raised."""
    if isinstance(error, ToolGuardError):
        return True
    return isinstance(error, GuardError) and error.code not in _WIRING_CODES


def refusal_text(error: BaseException, tool_name: str | None = None) -> str:
    """The text a model gets for a refusal: the error's ``to_prompt()``, naming the tool the model called.

    A guard applied under another name (the Python function behind the tool, say) is renamed to ``tool_name`` in
    the text; a refusal whose text names no tool gets `` (tool '<tool_name>')`` at the end.
    """
    to_prompt = getattr(error, "to_prompt", None)
    text = str(to_prompt()) if callable(to_prompt) else str(error)
    if not tool_name:
        return text
    own = getattr(error, "tool_name", None)
    if isinstance(own, str) and own and own != tool_name:
        text = text.replace(repr(own), repr(tool_name))
    if repr(tool_name) not in text:
        text = f"{text} (tool {tool_name!r})"
    return text


def returned_to_model(error: BaseException, tool_name: str | None, on_refusal: OnRefusal = "message") -> str:
    """Apply the refusal rule to an error a guarded tool raised: the text for the model, or raise ``error``.

    Call it from an ``except`` block: a recoverable refusal under ``on_refusal="message"`` returns its
    :func:`refusal_text` and emits ``tool_guard`` / ``refusal`` / ``returned_to_model`` (payload ``{"error":
    <type name>, "code": <custody code or None>}``); anything else is raised again, unchanged.
    """
    if on_refusal != "message" or not is_recoverable(error):
        raise error
    emit(
        "tool_guard",
        "refusal",
        "returned_to_model",
        tool=tool_name,
        payload={"error": type(error).__name__, "code": getattr(error, "code", None)},
    )
    return refusal_text(error, tool_name)


_MAX_PARKED = 1024  # errors waiting for their run's next model call (a run that never calls again drops out)
_PLACEHOLDER = re.compile(r"\[actguard: tool stopped, ref (\d+)\]")
_parked_lock = threading.Lock()
_parked: OrderedDict[int, BaseException] = OrderedDict()
_parked_ids = itertools.count(1)


def park(error: BaseException) -> str:
    """Hold ``error`` for the caller; return the placeholder a tool returns instead of raising it.

    The placeholder carries no detail of the error. :func:`parked_in` finds the error again in the text the
    framework builds the next prompt from.
    """
    with _parked_lock:
        ref = next(_parked_ids)
        _parked[ref] = error
        while len(_parked) > _MAX_PARKED:
            _parked.popitem(last=False)
    return f"[actguard: tool stopped, ref {ref}]"


def parked_in(texts: Iterable[object]) -> BaseException | None:
    """The error parked under a placeholder found in ``texts``, or None.

    It stays parked (a framework that retries the refused model call meets it again; the oldest parked errors are
    dropped past a bound). Cheap when nothing is parked (no text is read). Non-string items are skipped.
    """
    if not _parked:
        return None
    for text in texts:
        found = _PLACEHOLDER.search(text) if isinstance(text, str) else None
        if found is not None:
            with _parked_lock:
                error = _parked.get(int(found.group(1)))
            if error is not None:
                return error
    return None
