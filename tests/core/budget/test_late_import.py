"""An SDK imported after actguard, even inside an active BudgetGuard, is metered (checked in a fresh interpreter)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[1])
import budget_fakes as f
import actguard
from actguard import BudgetGuard

assert "openai" not in sys.modules and "google.genai" not in sys.modules
state, httpd = f.start_server()
with BudgetGuard(usd_limit=1.0) as guard:
    import openai
    from google import genai
    from google.genai import types

    state.queue(f.chat_completion(id="c1", prompt_tokens=10, completion_tokens=2))
    openai.OpenAI(api_key="sk-test", base_url=state.url + "/v1").chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
    )
    state.queue(f.gemini(prompt=10, candidates=2))
    client = genai.Client(api_key="g-test", http_options=types.HttpOptions(base_url=state.url))
    client.models.generate_content(model="gemini-2.5-flash", contents="hi")
httpd.shutdown()
print(guard.usage.calls, guard.tokens_used, actguard.budget.providers.installed())
"""


def test_sdk_imported_inside_a_guard_is_metered() -> None:
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", _SCRIPT, str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert out.strip() == "2 24 ['google', 'openai']"
