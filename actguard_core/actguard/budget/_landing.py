"""Soft landing: a budget warns (once) before it stops, and the model is told to wrap up.

``BudgetGuard(..., warn_at=0.8, on_warn=callable)``: when the guard's spend first reaches ``warn_at`` of one of its
limits, ``guard.warned`` becomes True, ``on_warn(guard)`` runs and one event ``budget`` / ``soft_limit`` / ``warned``
is emitted, once per guard. From then on :func:`landing_note` returns the text every adapter puts in front of the
model at its next model call ("you have used 80% of this request's budget; finish with what you have"), in the
framework's own way. The hard limit still stops the run.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from actguard.exceptions import ConfigError
from actguard.reporting import emit

if TYPE_CHECKING:
    from actguard.budget._guard import BudgetGuard

__all__ = ["SoftLimit", "landing_note"]


OnWarn = Callable[["BudgetGuard"], Any]

# Whether any guard of this process has warned. Until one has, landing_note has nothing to say and answers at once:
# every adapter asks it before each model call, and walking the guards would cost that call about a microsecond.
_any_warned = False


class SoftLimit:
    """One guard's soft limit: the fraction it warns at, the callback, and whether it has warned (thread-safe)."""

    __slots__ = ("_lock", "fraction", "on_warn", "used", "warned")

    def __init__(self, warn_at: float, on_warn: OnWarn | None) -> None:
        self.fraction = warn_at
        self.on_warn = on_warn
        self.warned = False
        self.used = 0.0  # the share of its limit the guard had used when it warned
        self._lock = threading.Lock()

    @classmethod
    def parse(cls, warn_at: Any, on_warn: Any, has_limit: bool) -> SoftLimit | None:
        """Validate ``BudgetGuard(warn_at=..., on_warn=...)``; None when there is no soft limit."""
        if warn_at is None:
            if on_warn is not None:
                raise ConfigError("BudgetGuard(on_warn=...) needs warn_at=... (a fraction of the limits, e.g. 0.8)")
            return None
        if (
            isinstance(warn_at, bool)
            or not isinstance(warn_at, (int, float))
            or not math.isfinite(warn_at)
            or not 0 < warn_at < 1
        ):
            raise ConfigError(f"BudgetGuard(warn_at=...) must be a fraction of each limit in (0, 1), got {warn_at!r}")
        if not has_limit:
            raise ConfigError("BudgetGuard(warn_at=...) needs a usd_limit or a token_limit to be a fraction of")
        if on_warn is not None and not callable(on_warn):
            raise ConfigError(f"BudgetGuard(on_warn=...) must be a callable taking the guard, got {on_warn!r}")
        return cls(float(warn_at), on_warn)

    def observe(self, guard: BudgetGuard, usd: float, tokens: int) -> None:
        """Warn, once, if ``usd`` / ``tokens`` (the guard's totals) reached the soft limit of a limit."""
        global _any_warned
        if self.warned:
            return
        used = 0.0
        if guard.usd_limit is not None:
            used = usd / guard.usd_limit
        if guard.token_limit is not None:
            used = max(used, tokens / guard.token_limit)
        if used < self.fraction:
            return
        with self._lock:
            if self.warned:
                return
            self.warned, self.used = True, used
            _any_warned = True
        emit(
            "budget",
            "soft_limit",
            "warned",
            user_id=guard.user_id,
            payload={
                "guard": guard.name,
                "warn_at": self.fraction,
                "used_fraction": used,
                "usd_used": usd,
                "tokens_used": tokens,
                "usd_limit": guard.usd_limit,
                "token_limit": guard.token_limit,
            },
        )
        if self.on_warn is not None:
            try:
                self.on_warn(guard)
            except Exception:  # a user's callback must not break the metering of a call that already happened
                import logging  # here, not at import: `import actguard` stays lean (tests/core/test_import.py)

                logging.getLogger("actguard.budget").exception("BudgetGuard on_warn callback raised")


def landing_note(*guards: BudgetGuard | None) -> str | None:
    """The note for the model's next call once a budget has crossed its ``warn_at``; None while none has.

    Adapters call it where they prepare each model call and add the note to that request in their framework's own
    way. It looks at each given guard (an adapter's per-run budget, say) and the guards enclosing it, then at the
    active :func:`actguard.current_budget` and its enclosing guards; the note speaks for the warned guard that has
    used the largest share of a limit.

    Example::

        with BudgetGuard(usd_limit=0.10, warn_at=0.8) as guard:
            ...
            note = landing_note()  # "You have used 80% of this request's budget..." once 80% is spent
    """
    if not _any_warned:
        return None
    from actguard.budget._guard import current_budget

    worst: SoftLimit | None = None
    seen: set[int] = set()
    for start in (*guards, current_budget()):
        guard = start
        while guard is not None and id(guard) not in seen:
            seen.add(id(guard))
            soft = guard._soft
            if soft is not None and soft.warned and (worst is None or soft.used > worst.used):
                worst = soft
            guard = guard.parent
    if worst is None:
        return None
    percent = min(math.floor(worst.used * 100), 99)
    return (
        f"Budget notice: you have used {percent}% of this request's budget. Finish with what you have: give your "
        "best answer now from the information already gathered, and do not start new tool calls unless they are "
        "essential. The run will be stopped when the budget is spent."
    )
