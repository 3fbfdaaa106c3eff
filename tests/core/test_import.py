"""`import actguard` stays cheap: what only some users need is imported when first used, and is still there then.

No timing here (the suite makes no wall-clock assertions): the test checks which modules an import loads, in a fresh
interpreter. `python -X importtime -c "import actguard"` shows the time.
"""

from __future__ import annotations

import ast
import subprocess
import sys

# module -> what needs it
DEFERRED = {
    "importlib.metadata": "actguard.__version__",
    "http.client": "the HTTP sink",
    "ssl": "the HTTP sink",
    "asyncio": "coroutine tools, the SQLite and Redis stores",
    "sqlite3": "SQLiteStore",
    "redis": "RedisStore",
    "uuid": "a RunContext without run_id",
    "socket": "the HTTP sink",
    "concurrent.futures": "ContextThreadPoolExecutor",
    "logging": "a store failing open, the queued sinks",
    "json": "a session, the stores' serialiser, the sinks",
    "decimal": "pricing (with genai-prices), Decimal thresholds",
    "datetime": "pricing (with genai-prices)",
    "fractions": "Fraction thresholds",
    "actguard.config": "configure()",
    "actguard.reporting._sender": "the queued sinks",
    "actguard.budget.providers.openai": "the OpenAI SDK, once imported",
    "actguard.budget._guard": "BudgetGuard, add_cost, current_budget",
    "actguard.budget.prices": "actguard.prices, a BudgetGuard's pricing",
    "actguard.budget._shared": "a shared BudgetGuard",
    "hashlib": "nothing: loop_guard's fingerprints use BLAKE2b without OpenSSL's bindings",
    "dataclasses": "nothing on these paths: their value classes are actguard._record.Record",
}
# module -> the decorating that needs it (not `import actguard`)
DEFERRED_TO_DECORATION = {"inspect": "a guard, prove or enforce reading the tool's signature"}


def _loaded_after(code: str, modules: dict[str, str] = DEFERRED) -> list[str]:
    probe = f"import sys\n{code}\nloaded = [m for m in {list(modules)!r} if m in sys.modules]\nprint(repr(loaded))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    return list(ast.literal_eval(out.stdout.splitlines()[-1]))


def test_import_actguard_loads_none_of_the_deferred_modules() -> None:
    assert _loaded_after("import actguard", {**DEFERRED, **DEFERRED_TO_DECORATION}) == []


def test_a_plain_decorated_tool_loads_none_of_them_either() -> None:
    code = (
        "import actguard\n"
        "@actguard.tool(rate_limit={'max_calls': 5, 'period': 60}, circuit_breaker={'name': 'dep'}, timeout=1.0)\n"
        "def search(query: str) -> str:\n"
        "    return query\n"
        "search('q')\n"
    )
    assert _loaded_after(code) == []


def test_the_deferred_names_are_there_when_used() -> None:
    code = (
        "import actguard\n"
        "from actguard import HttpSink, JsonlSink, RedisStore, SQLiteStore, configure\n"
        "from actguard.reporting import QueuedSink, SenderOptions, SinkStats\n"
        "assert actguard.__version__\n"
        "assert issubclass(SQLiteStore, actguard.Store) and issubclass(RedisStore, actguard.Store)\n"
        "assert issubclass(HttpSink, QueuedSink) and issubclass(JsonlSink, QueuedSink)\n"
        "assert callable(configure) and SenderOptions() and SinkStats\n"
    )
    loaded = _loaded_after(code)
    assert {"importlib.metadata", "sqlite3", "actguard.config", "actguard.reporting._sender"} <= set(loaded)


def test_the_budget_names_are_there_when_used() -> None:
    code = (
        "import actguard\n"
        "from actguard.budget import LLMUsage, landing_note\n"
        "assert actguard.prices.lookup('gpt-4o', 'openai') is not None\n"
        "with actguard.BudgetGuard(usd_limit=1.0) as guard:\n"
        "    assert actguard.current_budget() is guard\n"
        "    actguard.add_cost('search', 0.25)\n"
        "assert guard.usd_used == 0.25 and actguard.ModelUsage and actguard.LLMUsage is LLMUsage and landing_note\n"
    )
    loaded = _loaded_after(code)
    assert {"actguard.budget._guard", "actguard.budget.prices"} <= set(loaded)


def test_a_loop_guarded_tool_with_long_arguments_does_not_load_hashlib() -> None:
    code = (
        "import actguard\n"
        "@actguard.loop_guard(max_repeats=2)\n"
        "def search(query: str) -> str:\n"
        "    return query\n"
        "with actguard.RunContext(run_id='r1'):\n"
        "    search('q' * 500)\n"
    )
    assert "hashlib" not in _loaded_after(code)


def test_unknown_attributes_still_raise_attribute_error() -> None:
    import pytest

    import actguard
    from actguard import reporting, stores

    for module in (actguard, actguard.budget, reporting, stores):
        with pytest.raises(AttributeError, match="has no attribute 'nope'"):
            module.nope  # noqa: B018
