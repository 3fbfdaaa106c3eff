"""Soft landing in an agent run: once a budget has warned, each model request carries the note as a system prompt
part, in that request only (the run's message history never keeps it)."""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic_ai.messages import ModelRequest, SystemPromptPart

from actguard import BudgetGuard
from actguard.budget import landing_note

__all__ = ["with_landing_note"]


def with_landing_note(request_context: Any, *guards: BudgetGuard | None) -> Any:
    """``request_context`` with the budget's landing note added to its last message, or ``request_context`` unchanged.

    The note goes on a copy of the request's last ``ModelRequest`` (the one being answered), in a new list of
    messages: the run's history keeps the original, and the copy keeps that request's instructions, which
    pydantic-ai 1.x models read from the last request.
    """
    note = landing_note(*guards)
    if note is None:
        return request_context
    messages = list(request_context.messages)
    last = messages[-1] if messages else None
    if not isinstance(last, ModelRequest):  # pydantic-ai refuses such a request itself: leave it to say so
        return request_context
    messages[-1] = dataclasses.replace(last, parts=[*last.parts, SystemPromptPart(content=note)])
    return dataclasses.replace(request_context, messages=messages)
