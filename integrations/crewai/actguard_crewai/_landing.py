"""Soft landing in a crew: once a budget has warned, the agent's conversation gets the note before its next call.

CrewAI's ``before_llm_call`` hooks may edit ``context.messages`` in place: it is the agent executor's own message
list, which it keeps for the rest of the task. So the note is added once per conversation (the model then sees it
in every later call of that task), as a system message.
"""

from __future__ import annotations

from typing import Any

from actguard import BudgetGuard
from actguard.budget import landing_note

__all__ = ["add_landing_note"]

_MARK = "Budget notice:"


def add_landing_note(context: Any, *guards: BudgetGuard | None) -> None:
    """Append the budget's landing note to the hook context's messages, once per conversation."""
    messages = getattr(context, "messages", None)
    if not isinstance(messages, list):
        return
    note = landing_note(*guards)
    if note is None or any(_MARK in str(m.get("content", "")) for m in messages if isinstance(m, dict)):
        return
    messages.append({"role": "system", "content": note})
