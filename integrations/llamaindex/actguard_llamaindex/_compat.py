"""Import llama-index-core, or say which extra to install."""

from __future__ import annotations

try:
    import llama_index.core as _llama_index_core
except ImportError as exc:  # pragma: no cover - exercised only without llama-index-core
    raise ImportError(
        f'actguard_llamaindex needs llama-index-core >= 0.12.23: pip install "actguard[llamaindex]" ({exc})'
    ) from exc

LLAMA_INDEX_CORE_VERSION: str = _llama_index_core.__version__

__all__ = ["LLAMA_INDEX_CORE_VERSION"]
