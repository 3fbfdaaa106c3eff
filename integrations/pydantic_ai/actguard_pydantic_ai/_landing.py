"""Soft landing in an agent run: once a budget has warned, each model request carries the note as a system prompt
part, in that request only (the run's message history never keeps it)."""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelRequest, SystemPromptPart

from actguard import BudgetGuard
from actguard.budget import landing_note

__all__ = ["noted", "with_landing_note"]


def with_landing_note(request_context: Any, *guards: BudgetGuard | None) -> Any:
    """``request_context`` with its messages as :func:`noted` makes them (a copy), or ``request_context`` unchanged."""
    messages = noted(request_context.messages, *guards)
    if messages is request_context.messages:
        return request_context
    return dataclasses.replace(request_context, messages=messages)


def noted(messages: list[ModelMessage], *guards: BudgetGuard | None) -> list[ModelMessage]:
    """``messages`` with the budget's landing note added to the last one, or ``messages`` itself when there is none.

    The note goes on a copy of the last ``ModelRequest`` (the one being answered), in a new list: the run's history
    keeps the original, and the copy keeps that request's instructions, which pydantic-ai 1.x models read from the
    last request.
    """
    note = landing_note(*guards)
    if note is None:
        return messages
    last = messages[-1] if messages else None
    if not isinstance(last, ModelRequest):  # pydantic-ai refuses such a request itself: leave it to say so
        return messages
    return [*messages[:-1], dataclasses.replace(last, parts=[*last.parts, SystemPromptPart(content=note)])]
