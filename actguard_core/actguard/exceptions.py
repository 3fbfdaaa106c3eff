"""Every error actguard raises.

All of them derive from :class:`ActGuardError`, so ``except ActGuardError`` catches any refusal::

    ActGuardError
    ├── ConfigError                  misconfiguration, raised at decoration / construction / configure() time
    ├── MissingRuntimeContextError   a run-scoped guard called outside any RunContext
    ├── StoreUnavailable             the state store could not be reached (wraps the driver error)
    ├── UnknownModelPriceError       a metered model has no known price under a usd_limit
    ├── UnmeteredCallError           a call no layer could meter, under a strict=True BudgetGuard
    ├── BudgetExceededError          a BudgetGuard limit (usd or tokens) was reached
    ├── GuardError                   chain of custody refusal, with a machine-readable ``code``
    └── ToolGuardError               a tool guard refused a call (recoverable: the agent may retry later)
        ├── RateLimitExceeded
        ├── CircuitOpenError
        ├── ToolTimeoutError         (also a builtin TimeoutError)
        ├── MaxAttemptsExceeded
        ├── LoopDetected             the same call (or cycle of calls) again within one run
        └── IdempotencyError
            ├── IdempotencyInProgress
            ├── DuplicateIdempotencyKey
            └── IdempotencyOutcomeUnknown

Each error carries structured fields (``limit``, ``retry_after``, ``tool_name``...) and a message that states the
limit and the observed value. :meth:`ActGuardError.to_prompt` gives text a model can act on.

Every error pickles (multiprocessing, ``ProcessPoolExecutor``, Celery, RQ): it arrives with its type, message and
attributes; an attribute that cannot be pickled arrives as None (see :meth:`ActGuardError.__reduce__`).
"""

from __future__ import annotations

import time
import weakref
from typing import Any, Literal

__all__ = [
    "ActGuardError",
    "ActGuardWarning",
    "BudgetExceededError",
    "CircuitOpenError",
    "ConfigError",
    "DuplicateIdempotencyKey",
    "GuardError",
    "IdempotencyError",
    "IdempotencyInProgress",
    "IdempotencyOutcomeUnknown",
    "LimitType",
    "LoopDetected",
    "MaxAttemptsExceeded",
    "MissingRuntimeContextError",
    "RateLimitExceeded",
    "StoreUnavailable",
    "ToolGuardError",
    "ToolTimeoutError",
    "UnknownModelPriceError",
    "UnmeteredCallError",
]


LimitType = Literal["usd", "token"]
"""Which limit of a :class:`BudgetGuard` was reached (``BudgetExceededError.limit_type``)."""


class ActGuardError(Exception):
    """Root of every actguard error."""

    def to_prompt(self) -> str:
        """Text suitable for returning to a model as a tool result."""
        return str(self)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle support for every subclass: rebuilt from ``args`` and ``__dict__``, without calling ``__init__``.

        The default (``type(self)(*self.args)``) calls ``__init__`` with the message alone, which the subclasses'
        keyword-rich signatures refuse, so the error could not cross a process boundary. An attribute whose value
        cannot be pickled (a weakref such as ``BudgetExceededError``'s guard, a provider response holding a client)
        arrives as None rather than making the whole error unpicklable. As for builtin exceptions, ``__cause__``,
        ``__context__`` and ``__traceback__`` are not kept; ``__notes__`` is.
        """
        state = {name: _picklable_or_none(value) for name, value in vars(self).items()}
        return _unpickle, (type(self), self.args), state


class ConfigError(ActGuardError, ValueError):
    """An argument or configuration value is invalid. Raised early: at decoration, construction or configure()."""


class MissingRuntimeContextError(ActGuardError, RuntimeError):
    """A run-scoped guard (max_attempts, idempotent) was called outside any :class:`actguard.RunContext`."""

    def __init__(self, guard: str, tool_name: str) -> None:
        self.guard = guard
        self.tool_name = tool_name
        super().__init__(
            f"{guard} on {tool_name!r} needs an active run: wrap the call in `with actguard.RunContext():` "
            "(or `async with`). Threads and tasks started without copying the context see no run; "
            "use actguard.ContextThreadPoolExecutor or actguard.bind_context(fn)."
        )


class StoreUnavailable(ActGuardError, ConnectionError):
    """The state store could not be reached. ``cause`` is the underlying driver error."""

    def __init__(self, store: str, operation: str, cause: BaseException | None = None) -> None:
        self.store = store
        self.operation = operation
        self.cause = cause
        detail = f": {type(cause).__name__}: {cause}" if cause is not None else ""
        super().__init__(f"{store} store unavailable during {operation}{detail}")


class UnknownModelPriceError(ActGuardError, LookupError):
    """A model has no known price, so a usd_limit cannot be enforced for it."""

    def __init__(self, model: str, provider: str | None = None) -> None:
        self.model = model
        self.provider = provider
        where = f" (provider {provider!r})" if provider else ""
        super().__init__(
            f"no price known for model {model!r}{where}, so its cost cannot be counted against usd_limit. "
            f"Register one with actguard.prices.register({model!r}, input_per_mtok=..., output_per_mtok=...) "
            "or pass BudgetGuard(..., on_unknown_model='warn', fallback_price=...)."
        )


class UnmeteredCallError(ActGuardError):
    """An LLM call inside a ``strict=True`` BudgetGuard could not be metered (it was charged an estimate).

    Attributes:
        model: the call's model.
        reason: why no layer could meter it.
        guard_name: the name of the strict guard.
    """

    def __init__(self, model: str, reason: str, *, guard_name: str | None = None) -> None:
        self.model = model
        self.reason = reason
        self.guard_name = guard_name
        name = f" ({guard_name})" if guard_name else ""
        super().__init__(
            f"a call of {model!r} could not be metered ({reason}); a strict BudgetGuard{name} charged an estimate "
            "and stops here"
        )


class BudgetExceededError(ActGuardError):
    """A :class:`actguard.BudgetGuard` limit was reached.

    Attributes:
        user_id: the guard's user_id.
        limit_type: ``"usd"`` or ``"token"``.
        limit: the configured limit.
        used: what had been used when the limit was found crossed.
        response: the provider response of the call that crossed the limit, when there was one, so it is not lost.
            None in a copy unpickled in another process when the response cannot be pickled.
        guard: the :class:`~actguard.BudgetGuard` whose limit was reached, while it exists (the error holds it
            weakly); None when the error was built without one, and always None in an unpickled copy (a guard
            does not cross processes; ``guard_name`` does).
    """

    def __init__(
        self,
        user_id: str | None,
        limit_type: LimitType,
        limit: float,
        used: float,
        *,
        guard_name: str | None = None,
        response: Any = None,
        guard: Any = None,
    ) -> None:
        self._guard = None if guard is None else weakref.ref(guard)
        self.user_id = user_id
        self.limit_type: LimitType = limit_type
        self.limit = limit
        self.used = used
        self.guard_name = guard_name
        self.response = response
        who = f" for user {user_id!r}" if user_id is not None else ""
        name = f" ({guard_name})" if guard_name else ""
        if limit_type == "usd":
            amounts = f"used ${used:.6f} of ${limit:.6f}"
        else:
            amounts = f"used {int(used)} of {int(limit)} tokens"
        super().__init__(f"budget exceeded{who}{name}: {amounts}")

    @property
    def guard(self) -> Any:
        """The BudgetGuard whose limit was reached, or None (not given, or no longer alive)."""
        return None if self._guard is None else self._guard()

    def to_prompt(self) -> str:
        return f"Stop: the {self.limit_type} budget for this request is spent ({self}). Do not call more tools."

    # The attribute names of actguard 0.1.15, kept for code written against it. Each is the limit or usage of the
    # kind that was crossed, and None for the other kind (this error reports only the limit it is about).
    @property
    def tokens_used(self) -> int | None:
        """0.1.15's name: the tokens used, when the token limit was crossed (else None)."""
        return int(self.used) if self.limit_type == "token" else None

    @property
    def usd_used(self) -> float | None:
        """0.1.15's name: the USD used, when the USD limit was crossed (else None)."""
        return self.used if self.limit_type == "usd" else None

    @property
    def token_limit(self) -> int | None:
        """0.1.15's name: the token limit, when it was the one crossed (else None)."""
        return int(self.limit) if self.limit_type == "token" else None

    @property
    def usd_limit(self) -> float | None:
        """0.1.15's name: the USD limit, when it was the one crossed (else None)."""
        return self.limit if self.limit_type == "usd" else None


class GuardError(ActGuardError):
    """A chain-of-custody refusal.

    Attributes:
        code: one of ``NO_SESSION``, ``MISSING_FACT``, ``TOO_MANY_RESULTS``, ``THRESHOLD_EXCEEDED``,
            ``PATTERN_BLOCKED`` (custom rules may use their own).
        message: what was refused and why.
        details: structured data (argument, value, kind...).
        fix_hint: what the agent can do about it.
    """

    def __init__(
        self,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        fix_hint: str = "",
    ) -> None:
        self.code = code
        self.message = message
        self.details = dict(details or {})
        self.fix_hint = fix_hint
        super().__init__(f"[{code}] {message}")

    def to_prompt(self) -> str:
        text = f"Refused ({self.code}): {self.message}"
        if self.fix_hint:
            text += f" {self.fix_hint}"
        return text


class ToolGuardError(ActGuardError):
    """A tool guard refused a call. The agent can recover (wait, try another tool, stop retrying)."""

    def __init__(self, message: str, *, tool_name: str) -> None:
        self.tool_name = tool_name
        super().__init__(message)


class RateLimitExceeded(ToolGuardError):
    """More than ``limit`` calls in ``period`` seconds for one scope value."""

    def __init__(
        self, *, tool_name: str, limit: int, period: float, retry_after: float, scope_value: Any = None
    ) -> None:
        self.limit = limit
        self.period = period
        self.retry_after = retry_after
        self.scope_value = scope_value
        scope = f" for {scope_value!r}" if scope_value is not None else ""
        super().__init__(
            f"rate limit of {tool_name!r} reached{scope}: {_calls(limit)} per {period:g}s; retry in {retry_after:.2f}s",
            tool_name=tool_name,
        )

    def to_prompt(self) -> str:
        return (
            f"Tool {self.tool_name!r} is rate limited ({_calls(self.limit)} per {self.period:g}s). "
            f"Retry after {self.retry_after:.0f}s or continue without it."
        )

    @property
    def func_name(self) -> str:
        """0.1.15's name for :attr:`tool_name`."""
        return self.tool_name

    @property
    def max_calls(self) -> int:
        """0.1.15's name for :attr:`limit`."""
        return self.limit


class CircuitOpenError(ToolGuardError):
    """The dependency's circuit is open: calls fail fast until ``retry_after`` seconds pass."""

    def __init__(self, *, dependency_name: str, retry_after: float, tool_name: str = "", failures: int = 0) -> None:
        self.dependency_name = dependency_name
        self.retry_after = retry_after
        self.failures = failures
        self._raised_at = time.time()
        super().__init__(
            f"circuit {dependency_name!r} is open after {failures} consecutive failures; retry in {retry_after:.2f}s",
            tool_name=tool_name or dependency_name,
        )

    def to_prompt(self) -> str:
        return (
            f"The dependency {self.dependency_name!r} is failing and temporarily disabled. "
            f"Retry after {self.retry_after:.0f}s or use another approach."
        )

    @property
    def reset_at(self) -> float:
        """0.1.15's field: the Unix time (``time.time()``) when a call may be tried again (raised + retry_after)."""
        return self._raised_at + self.retry_after


class ToolTimeoutError(ToolGuardError, TimeoutError):
    """The tool ran longer than ``timeout_s`` seconds."""

    def __init__(self, *, tool_name: str, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        super().__init__(f"{tool_name!r} exceeded its timeout of {timeout_s:g}s", tool_name=tool_name)


class MaxAttemptsExceeded(ToolGuardError):
    """The tool was called more than ``limit`` times in one run."""

    def __init__(self, *, tool_name: str, limit: int, attempts: int, run_id: str | None = None) -> None:
        self.limit = limit
        self.attempts = attempts
        self.run_id = run_id
        super().__init__(
            f"{tool_name!r} called {attempts} times in run {run_id!r}; the limit is {limit} per run",
            tool_name=tool_name,
        )

    def to_prompt(self) -> str:
        return (
            f"Tool {self.tool_name!r} has been called {self.limit} times in this run, the maximum. "
            "Do not call it again; answer with what you have."
        )

    @property
    def used(self) -> int:
        """0.1.15's name for :attr:`attempts`."""
        return self.attempts


class LoopDetected(ToolGuardError):
    """The agent is going round in circles: the call repeats one already made in this run.

    Attributes:
        kind: ``"repeat"`` (the same tool with the same arguments once more than allowed) or ``"cycle"`` (the
            same short sequence of calls twice in a row, e.g. A, B, A, B).
        repeats: for ``"repeat"``: this call's number among identical calls in the run.
        limit: the ``max_repeats`` allowed.
        cycle: for ``"cycle"``: the tool names of one pass of the cycle, in call order.
        run_id: the run's id.
    """

    def __init__(
        self,
        *,
        tool_name: str,
        kind: str,
        limit: int,
        repeats: int = 0,
        cycle: tuple[str, ...] = (),
        run_id: str | None = None,
    ) -> None:
        self.kind = kind
        self.limit = limit
        self.repeats = repeats
        self.cycle = cycle
        self.run_id = run_id
        if kind == "cycle":
            message = (
                f"{tool_name!r} would repeat the cycle {' -> '.join(cycle)} a second time in a row with the same "
                f"arguments in run {run_id!r}"
            )
        else:
            message = (
                f"{tool_name!r} called with the same arguments {repeats} times in run {run_id!r}; the limit is {limit}"
            )
        super().__init__(message, tool_name=tool_name)

    def to_prompt(self) -> str:
        if self.kind == "cycle":
            return (
                f"You are going in circles: you just made the calls {' -> '.join(self.cycle)} with these same "
                "arguments twice in a row, and they will not give anything new. Do not repeat them: use the results "
                "you already have, try a different tool or different arguments, or give your answer."
            )
        return (
            f"You are repeating yourself: {self.tool_name!r} was already called with these same arguments in this "
            f"run ({self.limit} times allowed), so calling it again will not give anything new. Use the result you "
            "already have, change the arguments, try another tool, or give your answer."
        )


class IdempotencyError(ToolGuardError):
    """Base of the idempotency refusals. ``idempotency_key`` names the key."""

    def __init__(self, message: str, *, tool_name: str, idempotency_key: str) -> None:
        self.idempotency_key = idempotency_key
        super().__init__(message, tool_name=tool_name)

    @property
    def key(self) -> str:
        """0.1.15's name for :attr:`idempotency_key`."""
        return self.idempotency_key


class IdempotencyInProgress(IdempotencyError):
    """A call with the same key is running right now."""

    def __init__(self, *, tool_name: str, idempotency_key: str) -> None:
        super().__init__(
            f"{tool_name!r} with idempotency_key {idempotency_key!r} is already in progress",
            tool_name=tool_name,
            idempotency_key=idempotency_key,
        )


class DuplicateIdempotencyKey(IdempotencyError):
    """The key was already used successfully (raised with ``on_duplicate="raise"``)."""

    def __init__(self, *, tool_name: str, idempotency_key: str) -> None:
        super().__init__(
            f"{tool_name!r} already ran with idempotency_key {idempotency_key!r}",
            tool_name=tool_name,
            idempotency_key=idempotency_key,
        )


class IdempotencyOutcomeUnknown(IdempotencyError):
    """An earlier call with this key failed in a way that may have had effects; it is not retried until the TTL ends."""

    def __init__(self, *, tool_name: str, idempotency_key: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(
            f"an earlier call of {tool_name!r} with idempotency_key {idempotency_key!r} failed with an unknown "
            "outcome; refusing to repeat it until the key expires",
            tool_name=tool_name,
            idempotency_key=idempotency_key,
        )


class ActGuardWarning(UserWarning):
    """Something is wrong but nothing is refused: an unknown configure() key, events dropped by the reporter."""


def _unpickle(cls: type[ActGuardError], args: tuple[Any, ...]) -> ActGuardError:
    """Rebuild an error from its class and ``args``; pickle then restores its ``__dict__``. Pickles name this
    function: keep its name and signature."""
    error = cls.__new__(cls, *args)
    error.args = args  # OSError subclasses (StoreUnavailable, ToolTimeoutError) set args in __init__, not __new__
    return error


def _picklable_or_none(value: Any) -> Any:
    import pickle  # here, not at the top: only a pickling caller needs it, and it has imported it already

    try:
        pickle.dumps(value)
    except Exception:  # what fails depends on the object: TypeError, PicklingError, AttributeError, RecursionError
        return None
    return value


def _calls(n: int) -> str:
    return "1 call" if n == 1 else f"{n} calls"
