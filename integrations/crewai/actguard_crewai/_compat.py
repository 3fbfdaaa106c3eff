"""Import CrewAI, or say which extra to install. Also the floor: the first release whose hooks can stop a run."""

from __future__ import annotations

try:
    import crewai as _crewai
    from crewai.hooks.dispatch import HookAborted, InterceptionPoint, register_scoped, scoped_hooks
except ImportError as exc:  # pragma: no cover - exercised only without crewai
    raise ImportError(
        "actguard_crewai needs CrewAI >= 1.15.3 (the first release whose hooks can abort a run and be scoped to "
        f'one execution): pip install "actguard[crewai]" ({exc})'
    ) from exc

CREWAI_VERSION = _crewai.__version__

__all__ = ["CREWAI_VERSION", "HookAborted", "InterceptionPoint", "register_scoped", "scoped_hooks"]
