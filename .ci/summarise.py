"""Add up the closing lines of every pytest run in a nox log into one 'N passed, N failed, N skipped' line."""

from __future__ import annotations

import re
import sys

totals = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0}
sessions = 0
with open(sys.argv[1], encoding="utf-8", errors="replace") as log:
    for line in log:
        if not re.match(r"^=+ .* in [\d.]+s", line.strip()):
            continue
        sessions += 1
        for count, word in re.findall(r"(\d+) (passed|failed|skipped|errors?)\b", line):
            totals["errors" if word.startswith("error") else word] += int(count)
print(f"{sessions} pytest sessions")
print(f"{totals['passed']} passed, {totals['failed'] + totals['errors']} failed, {totals['skipped']} skipped")
