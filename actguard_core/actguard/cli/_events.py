"""``actguard events FILE``: what a JSONL event file says, per user, tool and outcome.

:func:`tally` and :func:`render` are shared with ``actguard demo``, which summarises the events it captured.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from actguard.cli._table import render_table

__all__ = ["Tally", "render", "run_events", "summarise", "tally"]


@dataclass
class _Spend:
    runs: int = 0
    llm_calls: int = 0
    tokens: int = 0
    usd: float = 0.0
    budget_stops: int = 0


@dataclass
class Tally:
    """Events counted per (user, tool, decision) and outcome, and LLM spend per user."""

    decisions: dict[tuple[str, str, str], Counter[str]] = field(default_factory=dict)
    spend: dict[str, _Spend] = field(default_factory=dict)
    events: int = 0

    def add(self, event: Mapping[str, Any]) -> None:
        """Count one event envelope."""
        self.events += 1
        user = str(event.get("user_id") or "-")
        category, name, outcome = (str(event.get(k) or "?") for k in ("category", "name", "outcome"))
        payload = event.get("payload")
        payload = payload if isinstance(payload, dict) else {}
        if category == "run":
            if name == "run_start":
                self.spend.setdefault(user, _Spend()).runs += 1
            return
        if category == "budget" and name == "llm_call" and outcome == "recorded":
            spend = self.spend.setdefault(user, _Spend())
            spend.llm_calls += 1
            spend.tokens += sum(_int(payload.get(k)) for k in ("input_tokens", "output_tokens"))
            usd = payload.get("usd")
            spend.usd += float(usd) if isinstance(usd, (int, float)) else 0.0
            return
        if category == "budget" and outcome == "blocked":
            self.spend.setdefault(user, _Spend()).budget_stops += 1
        key = (user, str(event.get("tool") or "-"), name)
        self.decisions.setdefault(key, Counter())[outcome] += 1


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def tally(events: Iterable[Mapping[str, Any]]) -> Tally:
    """Count ``events`` (envelope dicts, as the reporting sinks receive them)."""
    result = Tally()
    for event in events:
        result.add(event)
    return result


def render(result: Tally) -> str:
    """The spend-per-user and guard-decisions tables."""
    spend_rows = [
        [user, s.runs, s.llm_calls, s.tokens, s.usd, s.budget_stops] for user, s in sorted(result.spend.items())
    ]
    decision_rows = [
        [user, tool, name, ", ".join(f"{outcome} {n}" for outcome, n in outcomes.items())]
        for (user, tool, name), outcomes in sorted(result.decisions.items())
    ]
    return "\n\n".join(
        [
            render_table(
                ["user", "runs", "LLM calls", "tokens", "USD", "budget stops"], spend_rows, title="Spend per user"
            ),
            render_table(["user", "tool", "guard", "decisions"], decision_rows, title="Guard decisions"),
        ]
    )


@dataclass
class _Problems:
    """Line numbers (1-based) of the lines that were skipped, and of the events of an unknown envelope version."""

    bad: list[int] = field(default_factory=list)
    unknown_version: list[int] = field(default_factory=list)


def _read(lines: TextIO, result: Tally) -> _Problems:
    from actguard.reporting import ENVELOPE_VERSION

    problems = _Problems()
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            event: Any = json.loads(raw)
        except json.JSONDecodeError:
            problems.bad.append(number)
            continue
        if not isinstance(event, dict):
            problems.bad.append(number)
            continue
        if event.get("v") != ENVELOPE_VERSION:
            problems.unknown_version.append(number)
        result.add(event)
    return problems


def _line_numbers(numbers: list[int], most: int = 10) -> str:
    shown = ", ".join(str(n) for n in numbers[:most])
    more = f" and {len(numbers) - most} more" if len(numbers) > most else ""
    return f"line{'s' if len(numbers) > 1 else ''} {shown}{more}"


def summarise(lines: TextIO) -> tuple[Counter[tuple[str, str, str, str]], dict[str, float], int]:
    """Read a JSONL event stream: counts per (user, tool, name, outcome) of the guard decisions, LLM spend in USD per
    user, and the number of lines that were not event objects."""
    result = Tally()
    bad = len(_read(lines, result).bad)
    counts: Counter[tuple[str, str, str, str]] = Counter()
    for (user, tool, name), outcomes in result.decisions.items():
        for outcome, n in outcomes.items():
            counts[(user, tool, name, outcome)] += n
    return counts, {user: s.usd for user, s in result.spend.items() if s.llm_calls}, bad


def run_events(path: str) -> int:
    """Print the summary of the JSONL event file at ``path`` (``-``: standard input); returns the exit code."""
    result = Tally()
    try:
        if path == "-":
            problems = _read(sys.stdin, result)
        else:
            with open(path, encoding="utf-8") as fh:
                problems = _read(fh, result)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        print(f"actguard events: cannot read {path!r}: {reason}", file=sys.stderr)
        return 1
    noun = "event" if result.events == 1 else "events"
    print(f"{result.events} {noun} in {'standard input' if path == '-' else path}\n")
    print(render(result))
    if problems.bad:
        print(f"\nactguard events: skipped {_line_numbers(problems.bad)}: not a JSON event object", file=sys.stderr)
    if problems.unknown_version:
        from actguard.reporting import ENVELOPE_VERSION

        print(
            f"\nactguard events: warning: {_line_numbers(problems.unknown_version)}: an envelope version other than "
            f"{ENVELOPE_VERSION} (the one this actguard reads); counted as version {ENVELOPE_VERSION}, which may "
            "misread them: summarise them with the actguard that wrote them",
            file=sys.stderr,
        )
    return 0
