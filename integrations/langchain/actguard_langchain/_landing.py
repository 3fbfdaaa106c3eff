"""Soft landing in ``create_agent``: once a budget has warned, each model request carries the note in its system
message (a transient override of the request, so the agent's state and history never keep it)."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import SystemMessage

from actguard.budget import landing_note

__all__ = ["with_landing_note"]


def with_landing_note(request: Any) -> Any:
    """``request`` with the budget's landing note added to its system prompt, or ``request`` unchanged."""
    run = request.state.get("actguard_budget") if isinstance(request.state, dict) else None
    note = landing_note(run[0] if run else None)
    if note is None:
        return request
    if not hasattr(request, "system_message"):  # langchain 1.0: the system prompt is a plain string
        prompt = request.system_prompt
        return request.override(system_prompt=f"{prompt}\n\n{note}" if prompt else note)
    current = request.system_message
    content: Any = note
    if current is not None and isinstance(current.content, str):
        content = f"{current.content}\n\n{note}" if current.content else note
    elif current is not None:
        content = [*current.content, {"type": "text", "text": note}]
    return request.override(system_message=SystemMessage(content=content))
