"""Import pydantic-ai, or say which extra to install."""

from __future__ import annotations

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

__all__ = ["PYDANTIC_AI_VERSION"]
