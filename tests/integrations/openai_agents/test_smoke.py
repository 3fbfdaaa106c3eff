from __future__ import annotations

from contract import require

agents = require("agents")


def test_import() -> None:
    assert agents.RunHooks
