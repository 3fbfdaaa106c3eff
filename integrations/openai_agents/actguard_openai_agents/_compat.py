"""Import the OpenAI Agents SDK, or say which extra to install; what the installed release can do."""

from __future__ import annotations

try:
    import agents as _agents
except ImportError as exc:  # pragma: no cover - exercised only without openai-agents
    raise ImportError(
        f'actguard_openai_agents needs openai-agents >= 0.2.11: pip install "actguard[openai-agents]" ({exc})'
    ) from exc

from agents import InputGuardrail

AGENTS_VERSION: str = getattr(_agents, "__version__", "0")
"""The installed openai-agents release."""

HAS_SEQUENTIAL_GUARDRAILS: bool = "run_in_parallel" in getattr(InputGuardrail, "__dataclass_fields__", {})
"""Input guardrails can run before the model call (``run_in_parallel=False``, openai-agents >= 0.6)."""

HAS_TOOL_GUARDRAILS: bool = hasattr(_agents, "tool_input_guardrail")
"""Function tools take ``tool_input_guardrails`` (openai-agents >= 0.3.3)."""

__all__ = ["AGENTS_VERSION", "HAS_SEQUENTIAL_GUARDRAILS", "HAS_TOOL_GUARDRAILS"]
