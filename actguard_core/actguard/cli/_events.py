"""``actguard events FILE``: what a JSONL event file says, per user, tool and outcome."""

from __future__ import annotations

import json
import sys
from collections import Counter
from typing import Any, TextIO

from actguard.cli._table import render_table


def summarise(lines: TextIO) -> tuple[Counter[tuple[str, str, str, str]], dict[str, float], int]:
    """Count events by (user, tool, name, outcome), sum budget spend per user; also count unreadable lines."""
    counts: Counter[tuple[str, str, str, str]] = Counter()
    spend: dict[str, float] = {}
    bad = 0
    for raw in lines:
        if not raw.strip():
            continue
        try:
            event: Any = json.loads(raw)
        except json.JSONDecodeError:
            bad += 1
            continue
        if not isinstance(event, dict):
            bad += 1
            continue
        user = str(event.get("user_id") or "-")
        tool = str(event.get("tool") or "-")
        counts[(user, tool, str(event.get("name", "?")), str(event.get("outcome", "?")))] += 1
        payload = event.get("payload")
        if event.get("category") == "budget" and isinstance(payload, dict):
            usd = payload.get("usd")
            if isinstance(usd, (int, float)) and event.get("name") == "llm_call":
                spend[user] = spend.get(user, 0.0) + float(usd)
    return counts, spend, bad


def run_events(path: str) -> int:
    try:
        if path == "-":
            counts, spend, bad = summarise(sys.stdin)
        else:
            with open(path, encoding="utf-8") as fh:
                counts, spend, bad = summarise(fh)
    except OSError as exc:
        print(f"actguard events: cannot read {path!r}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    rows = [[u, t, n, o, c] for (u, t, n, o), c in sorted(counts.items())]
    print(render_table(["user", "tool", "event", "outcome", "count"], rows, title=f"{sum(counts.values())} events"))
    if spend:
        print()
        print(render_table(["user", "usd"], sorted(spend.items()), title="LLM spend"))
    if bad:
        print(f"\n{bad} line(s) were not JSON event objects and were skipped", file=sys.stderr)
    return 0
