"""Whether an installed SDK is one the meter knows how to patch: checked once per SDK, before patching it.

A release older than the floor, or one whose internals the patch relies on have changed shape, is not patched; a
warning (:class:`~actguard.ActGuardWarning`) says so once, naming the package, its version and what is missing, so
calls through it are never left unmetered without notice.
"""

from __future__ import annotations

import inspect
import re
import warnings
from collections.abc import Callable

from actguard.exceptions import ActGuardWarning

__all__ = ["has_params", "supported"]


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split(".")[:3]:
        match = re.match(r"\d+", piece)
        parts.append(int(match.group()) if match else 0)
    return tuple(parts)


def has_params(function: Callable[..., object] | None, names: tuple[str, ...]) -> bool:
    """Whether ``function`` exists and takes ``names`` as its first positional parameters."""
    if function is None or not callable(function):
        return False
    try:
        params = list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return False
    return params[: len(names)] == list(names)


def supported(package: str, version: str, floor: tuple[int, ...], problems: list[str]) -> bool:
    """True when ``version`` >= ``floor`` and no shape ``problems`` were found; else warn (once: the caller
    remembers the answer) and return False."""
    if _version_tuple(version) < floor:
        problems = [f"actguard meters {package} >= {'.'.join(map(str, floor))}", *problems]
    if not problems:
        return True
    warnings.warn(
        f"actguard: calls through {package} {version} are not metered automatically ({'; '.join(problems)}). "
        f"Upgrade {package}, or charge its calls with BudgetGuard.record().",
        ActGuardWarning,
        stacklevel=2,
    )
    return False
