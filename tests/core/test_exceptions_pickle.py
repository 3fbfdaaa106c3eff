"""Every actguard exception survives pickling: type, message, attributes and ``to_prompt()`` intact.

Errors cross process boundaries whenever a tool or an LLM call runs in a worker: multiprocessing pools,
``concurrent.futures.ProcessPoolExecutor``, Celery, RQ. The classes are found by walking the actguard package, so a
new one is covered as soon as it exists (and this test fails until :data:`EXAMPLES` has an instance of it).
"""

from __future__ import annotations

import concurrent.futures
import importlib
import inspect
import multiprocessing
import pickle
import pkgutil
import threading
from collections.abc import Callable
from typing import Any

import pytest

import actguard
import actguard.exceptions
from actguard.custody._facts import FactTypeError

# One representative instance per class, built with every argument it takes.
EXAMPLES: dict[type[BaseException], Callable[[], BaseException]] = {
    actguard.ActGuardError: lambda: actguard.ActGuardError("refused"),
    actguard.ActGuardWarning: lambda: actguard.ActGuardWarning("events dropped"),
    actguard.ConfigError: lambda: actguard.ConfigError("rate_limit(max_calls=...) must be >= 1, got 0"),
    actguard.MissingRuntimeContextError: lambda: actguard.MissingRuntimeContextError("max_attempts", "search"),
    actguard.StoreUnavailable: lambda: actguard.StoreUnavailable(
        "redis", "rate_limit_acquire", ConnectionRefusedError(111, "Connection refused")
    ),
    actguard.UnknownModelPriceError: lambda: actguard.UnknownModelPriceError("gpt-x", provider="openai"),
    actguard.UnmeteredCallError: lambda: actguard.UnmeteredCallError("gpt-x", "no usage", guard_name="g"),
    actguard.BudgetExceededError: lambda: actguard.BudgetExceededError(
        "u", "usd", 0.5, 0.51, guard_name="g", response={"id": "resp_1", "usage": {"total_tokens": 12}}
    ),
    actguard.GuardError: lambda: actguard.GuardError(
        "MISSING_FACT", "order '42' was never returned", {"kind": "order", "value": "42"}, "Call get_order first."
    ),
    actguard.ToolGuardError: lambda: actguard.ToolGuardError("refused", tool_name="search"),
    actguard.RateLimitExceeded: lambda: actguard.RateLimitExceeded(
        tool_name="search", limit=5, period=60, retry_after=12.5, scope_value="user-1"
    ),
    actguard.CircuitOpenError: lambda: actguard.CircuitOpenError(
        dependency_name="payments", retry_after=30.0, tool_name="charge", failures=5
    ),
    actguard.ToolTimeoutError: lambda: actguard.ToolTimeoutError(tool_name="search", timeout_s=2.5),
    actguard.MaxAttemptsExceeded: lambda: actguard.MaxAttemptsExceeded(
        tool_name="search", limit=3, attempts=4, run_id="run-1"
    ),
    actguard.LoopDetected: lambda: actguard.LoopDetected(
        tool_name="search", kind="cycle", limit=2, cycle=("search", "fetch"), run_id="run-1"
    ),
    actguard.IdempotencyError: lambda: actguard.IdempotencyError("refused", tool_name="pay", idempotency_key="k1"),
    actguard.IdempotencyInProgress: lambda: actguard.IdempotencyInProgress(tool_name="pay", idempotency_key="k1"),
    actguard.DuplicateIdempotencyKey: lambda: actguard.DuplicateIdempotencyKey(tool_name="pay", idempotency_key="k1"),
    actguard.IdempotencyOutcomeUnknown: lambda: actguard.IdempotencyOutcomeUnknown(
        tool_name="pay", idempotency_key="k1", retry_after=60.0
    ),
    FactTypeError: lambda: FactTypeError("a float is not an id"),
}


def _exception_classes() -> list[type[BaseException]]:
    """Every exception (and warning) class defined in actguard: in ``actguard``, ``actguard.exceptions`` and every
    submodule, public or not (an internal error escapes its module too)."""
    modules = [actguard, actguard.exceptions]
    for info in pkgutil.walk_packages(actguard.__path__, "actguard."):
        if info.name != "actguard.__main__":
            modules.append(importlib.import_module(info.name))
    found: dict[str, type[BaseException]] = {}
    for module in modules:
        for value in vars(module).values():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__.startswith("actguard"):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[name] for name in sorted(found)]


CLASSES = _exception_classes()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, BaseException):  # exceptions compare by identity: compare what they are
        return type(a) is type(b) and a.args == b.args
    return bool(a == b)


_MISSING = object()


def _public_attributes(error: BaseException) -> dict[str, Any]:
    """Public data attributes (properties included); methods are left out, to_prompt() is compared on its own."""
    values = {}
    for name in dir(error):
        if name.startswith("_"):
            continue
        value = getattr(error, name, _MISSING)  # OSError.characters_written raises when unset
        if not inspect.ismethod(value) and not inspect.isbuiltin(value):
            values[name] = value
    return values


def _assert_same_error(original: BaseException, copy: BaseException) -> None:
    assert type(copy) is type(original)
    assert str(copy) == str(original)
    assert copy.args == original.args
    before, after = _public_attributes(original), _public_attributes(copy)
    assert sorted(after) == sorted(before)
    for name, value in before.items():
        assert _same(after[name], value), f"{type(original).__name__}.{name}: {after[name]!r} != {value!r}"
    assert sorted(vars(copy)) == sorted(vars(original))  # private state too (CircuitOpenError._raised_at...)
    if isinstance(original, actguard.ActGuardError):
        assert isinstance(copy, actguard.ActGuardError)
        assert copy.to_prompt() == original.to_prompt()


def test_the_classes_are_found() -> None:
    names = {cls.__name__ for cls in CLASSES}
    assert {"ActGuardError", "BudgetExceededError", "GuardError", "LoopDetected", "StoreUnavailable"} <= names
    assert "FactTypeError" in names  # defined outside actguard/exceptions.py


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_every_exception_survives_a_pickle_round_trip(cls: type[BaseException], protocol: int) -> None:
    if cls not in EXAMPLES:
        pytest.fail(
            f"{cls.__module__}.{cls.__qualname__} has no example: add an instance of it to EXAMPLES in {__file__}, "
            "and make sure it pickles (actguard errors derive from ActGuardError, whose __reduce__ does that)"
        )
    original = EXAMPLES[cls]()
    assert type(original) is cls
    _assert_same_error(original, pickle.loads(pickle.dumps(original, protocol=protocol)))


def test_budget_exceeded_drops_what_cannot_be_pickled() -> None:
    """The guard (held weakly) and a response that cannot be pickled arrive as None; the rest is intact."""
    guard = actguard.BudgetGuard(user_id="u", token_limit=10, name="g")
    error = actguard.BudgetExceededError("u", "token", 10, 11, guard_name="g", response=threading.Lock(), guard=guard)
    assert error.guard is guard

    copy = pickle.loads(pickle.dumps(error))

    assert type(copy) is actguard.BudgetExceededError
    assert copy.guard is None
    assert copy.response is None
    assert (copy.user_id, copy.limit_type, copy.limit, copy.used, copy.guard_name) == ("u", "token", 10, 11, "g")
    assert (copy.tokens_used, copy.token_limit) == (11, 10)
    assert str(copy) == str(error) == "budget exceeded for user 'u' (g): used 11 of 10 tokens"
    assert copy.to_prompt() == error.to_prompt()
    assert error.guard is guard and isinstance(error.response, type(threading.Lock()))  # the original is untouched


def test_cause_and_context_are_dropped_as_for_builtin_exceptions() -> None:
    try:
        try:
            raise KeyError("k")
        except KeyError as exc:
            raise actguard.ToolTimeoutError(tool_name="search", timeout_s=1) from exc
    except actguard.ToolTimeoutError as exc:
        error = exc
    copy = pickle.loads(pickle.dumps(error))
    assert error.__cause__ is not None and error.__traceback__ is not None
    assert (copy.__cause__, copy.__context__, copy.__traceback__) == (None, None, None)
    assert isinstance(copy, TimeoutError) and copy.timeout_s == 1


def test_notes_survive_as_for_builtin_exceptions() -> None:
    error = actguard.GuardError("NO_SESSION", "no session")
    if not hasattr(error, "add_note"):
        pytest.skip("add_note() needs Python 3.11")
    error.add_note("while handling request 7")
    assert pickle.loads(pickle.dumps(error)).__notes__ == ["while handling request 7"]


# Run in a fresh interpreter (spawn), as a Celery or RQ worker would: a rate-limited tool called twice in a minute.
_WORKER = """
import actguard

@actguard.rate_limit(1, 60, scope="user_id", store=actguard.MemoryStore(), name="search")
def search(query, user_id):
    return query

search("a", user_id="u1")
search("b", user_id="u1")  # refused: RateLimitExceeded leaves the worker
"""


def test_an_error_raised_in_a_worker_process_arrives_intact() -> None:
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        future = pool.submit(exec, _WORKER, {})
        error = future.exception(timeout=120)

    assert type(error) is actguard.RateLimitExceeded
    assert (error.tool_name, error.limit, error.period, error.scope_value) == ("search", 1, 60, "u1")
    assert 0 < error.retry_after <= 60
    assert str(error) == f"rate limit of 'search' reached for 'u1': 1 call per 60s; retry in {error.retry_after:.2f}s"
    assert error.to_prompt().startswith("Tool 'search' is rate limited (1 call per 60s)")
    assert (error.func_name, error.max_calls) == ("search", 1)
