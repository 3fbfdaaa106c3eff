"""Import langchain-core, or say which extra to install."""

from __future__ import annotations

try:
    import langchain_core as _langchain_core
except ImportError as exc:  # pragma: no cover - exercised only without langchain-core
    raise ImportError(
        'actguard_langchain needs langchain-core >= 0.3.10: pip install "actguard[langchain]" '
        f"(ActGuardMiddleware also needs langchain >= 1.0) ({exc})"
    ) from exc

LANGCHAIN_CORE_VERSION: str = _langchain_core.__version__

__all__ = ["LANGCHAIN_CORE_VERSION"]
