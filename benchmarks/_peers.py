"""What each benchmark compares against, and a clear message when a peer is missing (instead of an ImportError).

``python -m nox -s bench`` installs every core peer (``BENCH_PEERS``) and runs the core benchmarks.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys

__all__ = ["BENCH_PEERS", "require"]

# The distributions the core benchmarks import (the adapter benchmarks import their framework instead).
BENCH_PEERS = ["cachetools", "circuitbreaker", "limits[redis]", "pybreaker", "tenacity", "openai", "redis"]


def require(script: str, modules: dict[str, str], binaries: tuple[str, ...] = ()) -> None:
    """Exit with one message naming every missing peer (import name -> pip name) and program, or return."""
    missing = [pip for module, pip in modules.items() if importlib.util.find_spec(module) is None]
    programs = [name for name in binaries if shutil.which(name) is None]
    if not missing and not programs:
        return
    lines = [f"{script} measures actguard against peers that are not installed here."]
    if missing:
        quoted = " ".join(f'"{name}"' if "[" in name else name for name in missing)
        lines.append(f"  install them: python -m pip install {quoted}")
    if programs:
        lines.append(f"  and put on PATH: {', '.join(programs)} (e.g. apt-get install redis-server)")
    lines.append("  or run every core benchmark with its peers installed: python -m nox -s bench")
    sys.exit("\n".join(lines))
