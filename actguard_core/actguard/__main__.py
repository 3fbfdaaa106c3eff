"""``python -m actguard``: the command line (see :mod:`actguard.cli`)."""

from __future__ import annotations

from actguard.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
