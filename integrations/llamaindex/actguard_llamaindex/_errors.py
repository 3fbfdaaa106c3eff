"""Find actguard's budget error in what a failed workflow raised."""

from __future__ import annotations

from actguard import BudgetExceededError

__all__ = ["budget_error"]


def budget_error(error: BaseException | None) -> BudgetExceededError | None:
    """The :class:`~actguard.BudgetExceededError` that stopped a run, from what ``await handler`` raised.

    With llama-index-workflows >= 2 (llama-index-core >= 0.14) a failed run raises the budget error itself; older
    releases (llama-index-core 0.12 and 0.13) wrap a failed step's error in ``WorkflowRuntimeError``, with the budget
    error as its ``__cause__``. Returns None when the run failed for another reason::

        try:
            result = await handler
        except Exception as exc:
            if budget_error(exc) is None:
                raise
            print("stopped:", budget_error(exc))
    """
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, BudgetExceededError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None
