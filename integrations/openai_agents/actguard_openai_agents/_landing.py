"""Soft landing in a ``Runner`` run: once a budget has warned, each model call's input gets the note.

``on_llm_start`` receives the very list of input items the runner then sends to the model (built afresh for each
turn, after ``call_model_input_filter``), so a system item appended there reaches this call only and never enters
the run's history.
"""

from __future__ import annotations

from typing import Any

from actguard import BudgetGuard
from actguard.budget import landing_note

__all__ = ["add_landing_note"]


def add_landing_note(input_items: Any, *guards: BudgetGuard | None) -> None:
    """Append the budget's landing note to ``input_items`` as a system message, once a budget has warned."""
    note = landing_note(*guards)
    if note is not None and isinstance(input_items, list):
        input_items.append({"role": "system", "content": note})
