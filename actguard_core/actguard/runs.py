"""Budgets per agent run, for framework adapters: one registry, one pre-call check, one ``blocked`` event.

Every framework adapter gives each top-level agent run a :class:`~actguard.BudgetGuard` of its own, with the same
limits and options for every run, and lets the caller read it afterwards by whatever identifies the run in that
framework (a run id, the run's result, the error it raised, its context object). :class:`RunBudgets` is that
registry, written once:

- :meth:`RunBudgets.open` starts a run's budget (optionally under a run id); :meth:`RunBudgets.attach` makes it
  readable by an object too (a result, an error, a context), by identity and without keeping the object alive where
  it takes weak references;
- :meth:`RunBudgets.start` / :meth:`RunBudgets.end` follow a run *tree* (frameworks that report each nested run with
  its parent's id, LangChain's callbacks) so a model call deep inside finds its top-level run's budget;
- :meth:`RunBudgets.budget_for` looks a run's budget up by any of those.

:func:`check_call` is the check before a model call: it raises :class:`~actguard.BudgetExceededError` (or
:class:`~actguard.UnknownModelPriceError`) and reports a refused call with :func:`report_blocked`, the one
``budget`` / ``llm_call`` / ``blocked`` event every adapter emits, payload ``{"guard", "limit_type", "limit",
"used"}``. From an async hook, :func:`acheck_call` is the same check and :func:`off_loop` runs any other step on the
budgets (recording a call): off the event loop when a budget is shared (its store may stall), else right there.

Everything here is thread- and task-safe, and bounded: ``max_runs`` finished runs stay readable (oldest dropped
first), and at most ``MAX_LIVE`` live entries are tracked (a run whose end never comes is dropped eventually).
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Collection, Hashable, Iterable
from typing import Any, TypeVar

from actguard.budget import BudgetGuard, _shared
from actguard.exceptions import BudgetExceededError, ConfigError
from actguard.reporting import emit

__all__ = ["MAX_LIVE", "RunBudgets", "acheck_call", "check_call", "off_loop", "report_blocked"]

R = TypeVar("R")

MAX_LIVE = 100_000
"""Most live runs (of any depth) and object keys a registry tracks at once."""


def report_blocked(error: BudgetExceededError, *, run_id: str | None = None) -> None:
    """Emit ``budget`` / ``llm_call`` / ``blocked``: an adapter stopped a run before its next model call."""
    emit(
        "budget",
        "llm_call",
        "blocked",
        run_id=run_id,
        user_id=error.user_id,
        payload={"guard": error.guard_name, "limit_type": error.limit_type, "limit": error.limit, "used": error.used},
    )


def check_call(
    budgets: Iterable[BudgetGuard | None],
    model: str | None = None,
    *,
    provider: str | None = None,
    max_output_tokens: int | None = None,
) -> None:
    """Refuse a model call when any of ``budgets`` (and the guards enclosing each) is spent or cannot price it.

    Runs :meth:`BudgetGuard.check_call` on each budget given (None entries skipped: "no enclosing guard"), so a
    run's budget, the caller's active guard and every guard enclosing them are enforced in one place.

    Raises:
        BudgetExceededError: a limit is reached (reported once with :func:`report_blocked`), or a strict guard's
            worst case for ``max_output_tokens`` does not fit.
        UnknownModelPriceError: ``model`` has no price under a usd_limit with ``on_unknown_model="raise"``.
    """
    try:
        for budget in budgets:
            if budget is not None:
                budget.check_call(model, provider=provider, max_output_tokens=max_output_tokens)
    except BudgetExceededError as error:
        report_blocked(error)
        raise


def _waits_on_store(budgets: Iterable[BudgetGuard | None]) -> bool:
    return any(budget is not None and budget.waits_on_store() for budget in budgets)


async def off_loop(budgets: Collection[BudgetGuard | None], fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> R:
    """``fn(*args, **kwargs)``, a sync step on ``budgets`` (a check, a record), for an adapter's async hook: in a worker
    thread when any of them (or a guard enclosing one) is shared, so a slow or stalled store never blocks the event
    loop (see :func:`actguard.budget._shared.off_loop`); else right here (per-process budgets do no I/O: no hop).

    ``budgets`` must be a collection (it is read here, and usually by ``fn``). Raises whatever ``fn`` raises.
    """
    if _waits_on_store(budgets):
        return await _shared.off_loop(fn, *args, **kwargs)
    return fn(*args, **kwargs)


async def acheck_call(
    budgets: Collection[BudgetGuard | None],
    model: str | None = None,
    *,
    provider: str | None = None,
    max_output_tokens: int | None = None,
) -> None:
    """:func:`check_call` for async code: the same rule, its store work off the event loop when a budget is shared.

    Raises:
        BudgetExceededError: as :func:`check_call`.
        UnknownModelPriceError: as :func:`check_call`.
        StoreUnavailable: a shared budget's store cannot be reached (fail closed).
    """
    if _waits_on_store(budgets):
        await _shared.off_loop(check_call, budgets, model, provider=provider, max_output_tokens=max_output_tokens)
    else:
        check_call(budgets, model, provider=provider, max_output_tokens=max_output_tokens)


def _ref(obj: Any) -> Callable[[], Any]:
    """A weak reference to ``obj``, or a strong one when it takes none (the registry is bounded anyway)."""
    try:
        return weakref.ref(obj)
    except TypeError:
        return lambda: obj


class RunBudgets:
    """One :class:`~actguard.BudgetGuard` per agent run, with the same limits and options for every run.

    Args:
        user_id: who the spend is for.
        usd_limit: per-run USD limit.
        token_limit: per-run token limit.
        name: a label for errors and events.
        max_runs: how many finished runs' budgets stay readable (oldest dropped first), >= 1.
        owner: the class to name in configuration errors (the adapter's budget class).
        **budget_options: further keyword arguments of :class:`~actguard.BudgetGuard` for each run's budget
            (``strict``, ``on_unknown_model``, ``fallback_price``, ``shared``, ``window``, ``store``). ``shared``
            makes every run of one ``user_id`` and ``name`` share one budget in the store.

    Raises:
        ConfigError: for a bad ``max_runs`` or any argument :class:`~actguard.BudgetGuard` refuses (checked now).
    """

    def __init__(
        self,
        user_id: str | None = None,
        usd_limit: float | None = None,
        token_limit: int | None = None,
        name: str | None = None,
        *,
        max_runs: int = 1000,
        owner: str = "RunBudgets",
        **budget_options: Any,
    ) -> None:
        if isinstance(max_runs, bool) or not isinstance(max_runs, int) or max_runs < 1:
            raise ConfigError(f"{owner}(max_runs=...) must be an int >= 1, got {max_runs!r}")
        try:
            BudgetGuard(user_id=user_id, usd_limit=usd_limit, token_limit=token_limit, name=name, **budget_options)
        except TypeError as exc:  # an option BudgetGuard does not take
            raise ConfigError(f"{owner}: {exc}; accepted options are BudgetGuard's") from None
        self.user_id = user_id
        self.usd_limit = usd_limit
        self.token_limit = token_limit
        self.name = name
        self.max_runs = max_runs
        self.budget_options = dict(budget_options)
        self._lock = threading.Lock()
        self._roots: OrderedDict[Hashable, Hashable] = OrderedDict()  # live run id -> its root run id
        self._live: dict[Hashable, int] = {}  # root run id -> how many of its runs are live
        self._active: OrderedDict[Hashable, BudgetGuard] = OrderedDict()  # live roots
        self._finished: OrderedDict[Hashable, BudgetGuard] = OrderedDict()  # readable after the end
        self._objects: OrderedDict[int, tuple[Callable[[], Any], BudgetGuard]] = OrderedDict()
        self._last: BudgetGuard | None = None

    # -- budgets ----------------------------------------------------------------------------------------------
    def new_budget(self) -> BudgetGuard:
        """A fresh budget with these limits and options (not registered; see :meth:`open`)."""
        return BudgetGuard(
            user_id=self.user_id,
            usd_limit=self.usd_limit,
            token_limit=self.token_limit,
            name=self.name,
            **self.budget_options,
        )

    def open(self, run_id: Hashable | None = None) -> BudgetGuard:
        """Start a run: a fresh budget, the new :attr:`last_budget`, readable under ``run_id`` when given."""
        budget = self.new_budget()
        with self._lock:
            if run_id is not None:
                self._keep(run_id, budget)
            self._last = budget
        return budget

    def keep(self, run_id: Hashable, budget: BudgetGuard) -> None:
        """Make ``budget`` readable under ``run_id`` (a run id known only once the run has started)."""
        with self._lock:
            self._keep(run_id, budget)

    def attach(self, obj: Any, budget: BudgetGuard) -> None:
        """Make ``budget`` readable by ``obj`` (a result, an error, a context object), by identity."""
        with self._lock:
            key = id(obj)
            self._objects[key] = (_ref(obj), budget)
            self._objects.move_to_end(key)
            while len(self._objects) > max(self.max_runs, 1) * 4:  # a few objects per run (context, result, error)
                self._objects.popitem(last=False)

    def attached(self, obj: Any) -> BudgetGuard | None:
        """The budget attached to ``obj`` (the very object), or None."""
        with self._lock:
            entry = self._objects.get(id(obj))
        return entry[1] if entry is not None and entry[0]() is obj else None

    def budget_for(self, run: Any) -> BudgetGuard | None:
        """The budget of a run: by an object :meth:`attach` ed to it, else by its run id (or the id of any run in
        its tree while that run is live), else, for a :class:`~actguard.BudgetExceededError`, the run's budget
        whose limit it reports. None for a run this registry does not know."""
        found = self.attached(run)
        if found is not None:
            return found
        if isinstance(run, BudgetExceededError):  # raised where the adapter could not attach it (another task)
            return run.guard if run.guard is not None and self._owns(run.guard) else None
        try:
            hash(run)
        except TypeError:
            return None
        with self._lock:
            root = self._roots.get(run, run)
            return self._active.get(root) or self._finished.get(root)

    @property
    def last_budget(self) -> BudgetGuard | None:
        """The budget of the most recently started run (use :meth:`budget_for` with concurrent runs)."""
        return self._last

    # -- run trees --------------------------------------------------------------------------------------------
    def start(self, run_id: Hashable, parent_run_id: Hashable | None = None) -> BudgetGuard:
        """Register a run that starts; return the budget of its top-level run (opened for a new root).

        A run whose parent is unknown (the hook was attached below the top level) is counted under that parent.
        """
        with self._lock:
            root = run_id if parent_run_id is None else self._roots.get(parent_run_id, parent_run_id)
            if run_id not in self._roots:
                self._roots[run_id] = root
                self._live[root] = self._live.get(root, 0) + 1
                if len(self._roots) > MAX_LIVE:
                    self._forget(self._roots.popitem(last=False)[1])
            budget = self._active.get(root) or self._finished.get(root)
            if budget is None:
                budget = self.new_budget()
                self._active[root] = budget
                self._last = budget
                if len(self._active) > MAX_LIVE:
                    self._keep(*self._active.popitem(last=False))
            return budget

    def end(self, run_id: Hashable) -> None:
        """Forget a run that ended; a top-level run's budget moves to the finished ones (still readable)."""
        with self._lock:
            root = self._roots.pop(run_id, None)
            if root is not None:
                self._forget(root)

    def root_of(self, run_id: Hashable) -> Hashable | None:
        """The top-level run a live run belongs to, or None for a run this registry has not seen."""
        with self._lock:
            return self._roots.get(run_id)

    @property
    def live_runs(self) -> int:
        """How many started runs (of any depth) have not ended yet."""
        return len(self._roots)

    def _owns(self, budget: BudgetGuard) -> bool:
        with self._lock:
            return any(b is budget for b in (*self._active.values(), *self._finished.values()))

    def _forget(self, root: Hashable) -> None:
        live = self._live.get(root, 1) - 1
        if live > 0:
            self._live[root] = live
            return
        self._live.pop(root, None)
        budget = self._active.pop(root, None)
        if budget is not None:
            self._keep(root, budget)

    def _keep(self, run_id: Hashable, budget: BudgetGuard) -> None:
        self._finished[run_id] = budget
        self._finished.move_to_end(run_id)
        while len(self._finished) > self.max_runs:
            self._finished.popitem(last=False)

    def __repr__(self) -> str:
        return f"RunBudgets(user_id={self.user_id!r}, usd_limit={self.usd_limit!r}, token_limit={self.token_limit!r})"
