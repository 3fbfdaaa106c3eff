"""Run README.md's ```python blocks as written, each in a fresh interpreter, offline.

Shared by ``tests/core/test_readme.py`` (blocks that import no framework adapter) and
``tests/integrations/<fw>/test_readme.py`` (blocks that import ``actguard_<fw>``, run in that framework's nox session).
A new block is picked up by whichever of them its imports select; nothing needs registering.

Each block runs in a subprocess (a fresh default store, fresh guards, its own exit handlers), in an empty working
directory, with the environment a reader trying the README without a key would have: ``actguard scripted-model``'s
variables (:func:`actguard.testing.scripted_model`: ``OPENAI_BASE_URL`` on a loopback model, a placeholder key).
A block that uses ``RedisStore`` gets ``REDIS_URL`` pointing at a private redis-server.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["ADAPTERS", "EXTRAS", "README", "Block", "blocks", "run_block"]

README = Path(__file__).resolve().parents[1] / "README.md"

# adapter package -> framework (the nox session whose tests run the blocks that import it)
ADAPTERS = {
    "actguard_crewai": "crewai",
    "actguard_langchain": "langchain",
    "actguard_llamaindex": "llamaindex",
    "actguard_openai_agents": "openai_agents",
    "actguard_pydantic_ai": "pydantic_ai",
}
# other optional packages -> the nox session that has them (tests/otel runs the OpenTelemetry section's block)
EXTRAS = {"opentelemetry": "otel"}

_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_TIMEOUT_S = 120


@dataclass(frozen=True)
class Block:
    """One ```python block of the README: where it is, its code and the top-level modules it imports."""

    line: int
    heading: str
    code: str
    imports: frozenset[str]

    @property
    def framework(self) -> str | None:
        """The framework whose nox session runs this block (the adapter it imports), or None for the core suite."""
        found = sorted({ADAPTERS[name] for name in self.imports if name in ADAPTERS})
        if len(found) > 1:
            raise AssertionError(f"README.md:{self.line}: one block imports two adapters ({found}); split it")
        if found:
            return found[0]
        extras = sorted({EXTRAS[name] for name in self.imports if name in EXTRAS})
        return extras[0] if extras else None

    @property
    def id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.heading.lower()).strip("-")
        return f"line{self.line}-{slug}"


def _imports(code: str, line: int) -> frozenset[str]:
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        raise AssertionError(f"README.md:{line + (exc.lineno or 1)}: a python block does not parse: {exc}") from exc
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return frozenset(names)


def blocks(framework: str | None = None) -> list[Block]:
    """The README's python blocks run by ``framework``'s session (None: the core suite), in README order."""
    text = README.read_text(encoding="utf-8")
    found: list[Block] = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1  # the fence's line
        headings = re.findall(r"^#+ +(.+)$", text[: match.start()], re.MULTILINE)
        block = Block(line, headings[-1] if headings else "top", match.group(1), _imports(match.group(1), line))
        if block.framework == framework:
            found.append(block)
    return found


def _redis_url() -> Iterator[str]:
    sys.path.insert(0, str(Path(__file__).parent / "core" / "stores"))
    from backends import require_redis
    from redis_server import RedisServer

    require_redis()
    with RedisServer() as server:
        yield server.url


def run_block(block: Block, workdir: Path) -> subprocess.CompletedProcess[str]:
    """Run ``block`` as a script in ``workdir`` against the scripted model; fail with its output unless it exits 0."""
    from actguard.testing import scripted_model

    script = workdir / f"readme_{block.line}.py"
    # Blank lines before the code: a line number in a traceback is the line in README.md.
    script.write_text("\n" * block.line + block.code, encoding="utf-8")
    redis = _redis_url() if "RedisStore(" in block.code else None
    try:
        env = dict(os.environ)
        if redis is not None:
            env["REDIS_URL"] = next(redis)
        with scripted_model():
            env.update({name: os.environ[name] for name in os.environ if name.startswith("OPENAI_")})
            proc = subprocess.run(
                [sys.executable, str(script)],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=_TIMEOUT_S,
                check=False,
            )
    finally:
        if redis is not None:
            redis.close()
    if proc.returncode != 0:
        pytest.fail(
            f"README.md:{block.line} ({block.heading}) exited {proc.returncode}\n"
            f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}",
            pytrace=False,
        )
    return proc
