"""Soft landing in LlamaIndex: once a budget has warned, each chat call gets the note as a last system message.

The LLM callback's start event carries the very list of messages the LLM is about to send (agents build it afresh
for each step from their memory), so a message appended there reaches this call only and never enters the memory.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.base.llms.types import ChatMessage, MessageRole

from actguard import BudgetGuard
from actguard.budget import landing_note

__all__ = ["add_landing_note"]


def add_landing_note(messages: Any, *guards: BudgetGuard | None) -> None:
    """Append the budget's landing note to a chat call's ``messages``, once a budget has warned."""
    if not isinstance(messages, list):
        return
    note = landing_note(*guards)
    if note is not None:
        messages.append(ChatMessage(role=MessageRole.SYSTEM, content=note))
