"""Budgets per top-level LangChain run, keyed by the root run id; thread-safe and bounded.

LangChain reports every run (chain, graph node, model call, tool) with its own id and its parent's id, never the
root's. :class:`RunBudgets` follows the tree as runs start and end, so a model call deep inside an agent finds the
budget of the top-level run it belongs to. One instance is safe to share between concurrent runs: each root gets
its own :class:`~actguard.BudgetGuard` (the caller's active ``BudgetGuard`` is charged apart, see ``_call``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

from actguard import BudgetGuard
from actguard.exceptions import ConfigError

__all__ = ["RunBudgets"]

_MAX_TRACKED_RUNS = 100_000  # live run -> root entries (runs whose end never comes, e.g. an abandoned stream)


class RunBudgets:
    """One :class:`~actguard.BudgetGuard` per top-level run, with the same limits for every run.

    Args:
        user_id: who the spend is for.
        usd_limit: per-run USD limit.
        token_limit: per-run token limit.
        name: label for errors and events.
        max_runs: how many finished runs' budgets stay readable (oldest dropped first).
    """

    def __init__(
        self,
        user_id: str | None = None,
        usd_limit: float | None = None,
        token_limit: int | None = None,
        name: str | None = None,
        *,
        max_runs: int = 1000,
    ) -> None:
        if isinstance(max_runs, bool) or not isinstance(max_runs, int) or max_runs < 1:
            raise ConfigError(f"max_runs=... must be an int >= 1, got {max_runs!r}")
        BudgetGuard(user_id=user_id, usd_limit=usd_limit, token_limit=token_limit, name=name)  # validates now
        self.user_id = user_id
        self.usd_limit = usd_limit
        self.token_limit = token_limit
        self.name = name
        self.max_runs = max_runs
        self._lock = threading.Lock()
        self._roots: OrderedDict[Hashable, Hashable] = OrderedDict()  # live run id -> its root run id
        self._live: dict[Hashable, int] = {}  # root run id -> how many of its runs are live
        self._active: OrderedDict[Hashable, BudgetGuard] = OrderedDict()
        self._finished: OrderedDict[Hashable, BudgetGuard] = OrderedDict()
        self._last: BudgetGuard | None = None

    def _new_budget(self) -> BudgetGuard:
        return BudgetGuard(user_id=self.user_id, usd_limit=self.usd_limit, token_limit=self.token_limit, name=self.name)

    def start(self, run_id: Hashable, parent_run_id: Hashable | None) -> BudgetGuard:
        """Register a run that starts; return the budget of its top-level run (created for a new root).

        A run whose parent is unknown (the handler was attached below the top level) is counted under that parent.
        """
        with self._lock:
            root = run_id if parent_run_id is None else self._roots.get(parent_run_id, parent_run_id)
            if run_id not in self._roots:
                self._roots[run_id] = root
                self._live[root] = self._live.get(root, 0) + 1
                if len(self._roots) > _MAX_TRACKED_RUNS:
                    self._forget(self._roots.popitem(last=False)[1])
            guard = self._active.get(root)
            if guard is None:
                guard = self._finished.get(root)
            if guard is None:
                guard = self._new_budget()
                self._active[root] = guard
                self._last = guard
                if len(self._active) > _MAX_TRACKED_RUNS:
                    old_root, old = self._active.popitem(last=False)
                    self._keep(old_root, old)
            return guard

    def detached(self, key: Hashable) -> BudgetGuard:
        """A new budget for a run this registry does not follow (its holder keeps it); readable under ``key``."""
        guard = self._new_budget()
        with self._lock:
            self._keep(key, guard)
            self._last = guard
        return guard

    def end(self, run_id: Hashable) -> None:
        """Forget a run that ended; a top-level run's budget moves to the finished ones (still readable)."""
        with self._lock:
            root = self._roots.pop(run_id, None)
            if root is not None:
                self._forget(root)

    def _forget(self, root: Hashable) -> None:
        live = self._live.get(root, 1) - 1
        if live > 0:
            self._live[root] = live
            return
        self._live.pop(root, None)
        guard = self._active.pop(root, None)
        if guard is not None:
            self._keep(root, guard)

    def _keep(self, root: Hashable, guard: BudgetGuard) -> None:
        self._finished[root] = guard
        self._finished.move_to_end(root)
        while len(self._finished) > self.max_runs:
            self._finished.popitem(last=False)

    def root_of(self, run_id: Hashable) -> Hashable | None:
        """The top-level run a live run belongs to, or None for a run this registry has not seen."""
        with self._lock:
            return self._roots.get(run_id)

    def budget_for(self, run_id: Hashable) -> BudgetGuard | None:
        """The budget of the top-level run ``run_id`` (or of the run it belongs to), or None if unknown."""
        with self._lock:
            root = self._roots.get(run_id, run_id)
            return self._active.get(root) or self._finished.get(root)

    @property
    def live_runs(self) -> int:
        """How many started runs (of any depth) have not ended yet."""
        return len(self._roots)

    @property
    def last_budget(self) -> BudgetGuard | None:
        """The budget of the most recently started top-level run."""
        return self._last
