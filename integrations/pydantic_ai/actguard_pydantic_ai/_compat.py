"""Import pydantic-ai, or say which extra to install; what the installed release can do."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

try:
    import pydantic_ai as _pydantic_ai
    from pydantic_ai.capabilities import AbstractCapability as _AbstractCapability  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without pydantic-ai
    raise ImportError(
        f'actguard_pydantic_ai needs pydantic-ai-slim >= 1.71.0 (capabilities): pip install "actguard[pydantic-ai]" '
        f"({exc})"
    ) from exc

PYDANTIC_AI_VERSION: str = getattr(_pydantic_ai, "__version__", "0")
"""The installed pydantic-ai release."""


def _release(version: str) -> tuple[int, int]:
    found = re.match(r"(\d+)\.(\d+)", version)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


REQUEST_ONLY_MESSAGES: bool = _release(PYDANTIC_AI_VERSION) >= (2, 54)
"""Whether the messages a ``before_model_request`` hook returns go into that request only (pydantic-ai >= 2.54;
earlier releases make them the run's message history, and only ``wrap_model_request`` changes one request alone)."""

current_run_context: Callable[[], Any] | None
"""The run a model request belongs to: pydantic-ai keeps it where its own durable-execution models read it (1.71 to
2.78 at least); None in a release that moved it (ActGuardModel then says so when built)."""
try:
    from pydantic_ai._run_context import get_current_run_context

    current_run_context = get_current_run_context
except ImportError:  # pragma: no cover - no such release yet
    current_run_context = None

__all__ = ["PYDANTIC_AI_VERSION", "REQUEST_ONLY_MESSAGES", "current_run_context"]
