"""The command line, driven as a user runs it: ``python -m actguard ...`` in a subprocess; output and exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import actguard
from actguard import reporting
from actguard.budget import LLMUsage, prices

DEMO_MOMENTS = [
    "custody: blocked, the agent never read this order id",
    "idempotent: a duplicate, answered from the first call; no second refund",
    "rate_limit: blocked, 2 emails to this user already this minute",
    "circuit_breaker: 2 failures, the 'warehouse' circuit is now open",
    "circuit_breaker: failed fast, the warehouse was not called",
    "circuit_breaker: the probe succeeded, the circuit is closed again",
    "loop_guard: blocked, the agent is repeating itself; it answers instead",
    "BudgetGuard: 75% of the budget spent (warn_at); the model is told to finish",
    "note to the model: Budget notice: you have used 81% of this request's budget. Finish with what you have",
    "BudgetGuard: over the limit, the run is stopped",
]

DEMO_TABLES = [
    "Spend per user",
    "user runs LLM calls tokens USD budget stops",
    "alice 1 5 6750 0.001350 0",
    "bob 1 4 5400 0.001080 0",
    "carol 2 6 8100 0.001620 0",
    "dave 1 4 5400 0.001080 1",
    "erin 1 4 5400 0.001080 0",
    "Guard decisions",
    "alice list_orders prove recorded 1",
    "alice refund_order enforce blocked 1, allowed 2",
    "alice refund_order idempotent allowed 1, intervened 1",
    "bob send_email rate_limit allowed 2, blocked 1",
    "carol check_stock circuit_breaker allowed 3, opened 1, blocked 1, closed 1",
    "dave - budget_exceeded blocked 1",
    "dave - soft_limit warned 1",
    "erin track_parcel loop_guard allowed 2, blocked 1",
]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ACTGUARD_"))}
    env.update(extra)
    return env


def actguard_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "actguard", *args],
        capture_output=True,
        text=True,
        env=_env() if env is None else env,
        timeout=120,
    )


def lines(text: str) -> list[str]:
    """Output lines with runs of spaces collapsed, so tables compare by content rather than column widths."""
    return [" ".join(line.split()) for line in text.splitlines()]


def assert_in_order(expected: list[str], text: str) -> None:
    got = lines(text)
    position = 0
    for want in expected:
        matches = [i for i, line in enumerate(got) if i >= position and want in line]
        assert matches, f"{want!r} missing (or out of order) in:\n{text}"
        position = matches[0] + 1


# -- demo ----------------------------------------------------------------------------------------------------------
def test_demo_runs_offline_and_shows_each_guard_then_the_tables() -> None:
    pytest.importorskip("openai")
    # a proxy in the environment must not matter: the scripted model is on loopback and the SDK is told to ignore it
    out = actguard_cli("demo", env=_env(HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9"))
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    assert "offline" in out.stdout.splitlines()[0]
    assert_in_order(DEMO_MOMENTS + DEMO_TABLES, out.stdout)
    assert 'refund_order(order_id="o9", idempotency_key="refund-o9") -> refused: Refused (MISSING_FACT)' in out.stdout
    assert "stopped: budget exceeded for user 'dave'" in out.stdout
    assert 'track_parcel(parcel_id="p7") -> refused: You are repeating yourself' in out.stdout
    assert lines(out.stdout)[-1] == "refunds issued: 1 (o1)"  # the retried refund did not run again
    assert len(out.stdout.splitlines()) < 80  # short enough to read in one screen or two
    assert max(len(line) for line in out.stdout.splitlines()) <= 110  # and narrow enough for a terminal


def test_python_dash_m_and_the_console_script_print_the_same_demo() -> None:
    pytest.importorskip("openai")
    script = Path(sys.executable).with_name("actguard")
    if not script.exists():
        pytest.skip(f"no console script next to {sys.executable} (actguard not pip-installed here)")
    a = actguard_cli("demo")
    b = subprocess.run([str(script), "demo"], capture_output=True, text=True, env=_env(), timeout=120)
    assert (a.returncode, b.returncode) == (0, 0)
    assert a.stdout == b.stdout


def test_demo_events_file_is_what_actguard_events_summarises(tmp_path: Path) -> None:
    pytest.importorskip("openai")
    path = tmp_path / "events.jsonl"
    demo = actguard_cli("demo", "--events-file", str(path))
    assert demo.returncode == 0, demo.stderr
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert {e["v"] for e in events} == {1}
    summary = actguard_cli("events", str(path))
    assert summary.returncode == 0, summary.stderr
    assert lines(summary.stdout)[0] == f"{len(events)} events in {path}"
    assert_in_order(DEMO_TABLES, summary.stdout)


def test_demo_live_without_a_key_says_what_to_do() -> None:
    out = actguard_cli("demo", "--live")
    assert out.returncode == 1
    assert out.stdout == ""
    assert "OPENAI_API_KEY" in out.stderr
    assert "without --live" in out.stderr


def test_demo_without_the_openai_sdk_says_which_extra_to_install() -> None:
    blocked = (
        "import sys; sys.modules['openai'] = None; from actguard.cli import main; raise SystemExit(main(['demo']))"
    )
    out = subprocess.run([sys.executable, "-c", blocked], capture_output=True, text=True, env=_env(), timeout=60)
    assert out.returncode == 1
    assert out.stdout == ""
    assert 'actguard demo needs the OpenAI SDK: python -m pip install "actguard[demo]"' in out.stderr


def test_demo_live_talks_to_the_configured_api() -> None:
    """--live uses the environment's key and base URL: here the scripted model, so the live path runs for real."""
    pytest.importorskip("openai")
    from actguard.cli._demo import CONVERSATIONS
    from actguard.cli._scripted_model import serve

    with serve({c.request: c.script for c in CONVERSATIONS}) as base_url:
        out = actguard_cli("demo", "--live", env=_env(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=base_url))
    assert out.returncode == 0, out.stderr
    assert "LIVE, model gpt-4o-mini" in out.stdout.splitlines()[0]
    assert_in_order(DEMO_MOMENTS + DEMO_TABLES, out.stdout)


def test_demo_live_reports_an_api_failure_clearly() -> None:
    pytest.importorskip("openai")
    from actguard.cli._scripted_model import serve

    with serve({}, default=None) as base_url:  # knows no conversation: answers 400 like an API rejecting the request
        out = actguard_cli("demo", "--live", env=_env(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=base_url))
    assert out.returncode == 1
    assert "actguard demo: the OpenAI API call failed: BadRequestError" in out.stderr
    assert "Traceback" not in out.stderr


# -- prices --------------------------------------------------------------------------------------------------------
def test_prices_of_a_known_model_are_the_ones_budget_guard_uses() -> None:
    price = prices.price_for("gpt-4o-mini")
    out = actguard_cli("prices", "gpt-4o-mini")
    assert out.returncode == 0, out.stderr
    assert lines(out.stdout)[:4] == [
        "model: gpt-4o-mini",
        f"input: ${price.input_per_mtok:g} per million tokens",
        f"cached input: ${price.cached_input_per_mtok:g} per million tokens",
        f"output: ${price.output_per_mtok:g} per million tokens",
    ]
    assert "cost:" not in out.stdout  # no usage given, no cost


def test_prices_with_usage_prints_its_cost() -> None:
    usage = LLMUsage("gpt-4o", None, input_tokens=1_000_000, cached_input_tokens=500_000, output_tokens=1_000)
    out = actguard_cli("prices", "gpt-4o", "--input", "1000000", "--cached", "500000", "--output", "1000")
    assert out.returncode == 0, out.stderr
    assert "usage: 1000000 input tokens (500000 cached), 1000 output tokens" in lines(out.stdout)
    assert f"cost: ${prices.cost_of(usage):.6f}" in lines(out.stdout)


def test_prices_usage_of_one_token_is_singular() -> None:
    out = actguard_cli("prices", "gpt-4o", "--input", "1", "--output", "1")
    assert out.returncode == 0, out.stderr
    assert "usage: 1 input token (0 cached), 1 output token" in lines(out.stdout)


def test_prices_with_a_provider_and_long_context_tiers() -> None:
    price = prices.price_for("gemini-2.5-pro", "google")
    assert price.tiers, "genai-prices prices gemini-2.5-pro per context length"
    usage = LLMUsage("gemini-2.5-pro", "google", input_tokens=300_000, cached_input_tokens=0, output_tokens=10)
    out = actguard_cli("prices", "gemini-2.5-pro", "--provider", "google", "--input", "300000", "--output", "10")
    assert out.returncode == 0, out.stderr
    assert lines(out.stdout)[0] == "model: gemini-2.5-pro (provider google)"
    assert f"above {price.tiers[0].above_input_tokens} input tokens (whole call)" in out.stdout
    assert f"cost: ${price.cost(usage):.6f}" in lines(out.stdout)


def test_prices_of_an_unknown_model_exit_1_with_a_clear_message() -> None:
    out = actguard_cli("prices", "no-such-model-xyz", "--input", "10")
    assert out.returncode == 1
    assert out.stdout == ""
    assert "no price known for model 'no-such-model-xyz'" in out.stderr
    assert "actguard.prices.register(" in out.stderr
    assert "--provider" in out.stderr


# -- events --------------------------------------------------------------------------------------------------------
def test_events_summarises_a_file_written_by_the_jsonl_sink(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    sink = actguard.JsonlSink(path)
    reporting.add_sink(sink)
    try:
        with actguard.RunContext(run_id="r1", user_id="ann"):
            reporting.emit("tool_guard", "rate_limit", "allowed", tool="send_email")
            reporting.emit("tool_guard", "rate_limit", "blocked", tool="send_email")
            reporting.emit(
                "budget", "llm_call", "recorded", payload={"usd": 0.25, "input_tokens": 100, "output_tokens": 5}
            )
        with actguard.RunContext(run_id="r2", user_id="ben"):
            reporting.emit(
                "budget", "llm_call", "recorded", payload={"usd": 0.5, "input_tokens": 7, "output_tokens": 3}
            )
            reporting.emit("budget", "budget_exceeded", "blocked", payload={"limit_type": "usd"})
            reporting.emit("custody", "enforce", "blocked", tool="refund", payload={"code": "MISSING_FACT"})
    finally:
        reporting.remove_sink(sink)
        assert sink.close(10)
    with path.open("a") as fh:
        fh.write("not json\n[1, 2]\n\n")

    out = actguard_cli("events", str(path))
    assert out.returncode == 0, out.stderr
    assert lines(out.stdout) == [
        f"10 events in {path}",  # 6 emitted + run_start and run_end of each run
        "",
        "Spend per user",
        "user runs LLM calls tokens USD budget stops",
        "---- ---- --------- ------ -------- ------------",
        "ann 1 1 105 0.250000 0",
        "ben 1 1 10 0.500000 1",
        "",
        "Guard decisions",
        "user tool guard decisions",
        "---- ---------- --------------- --------------------",
        "ann send_email rate_limit allowed 1, blocked 1",
        "ben - budget_exceeded blocked 1",
        "ben refund enforce blocked 1",
    ]
    assert "actguard events: skipped lines 11, 12: not a JSON event object" in out.stderr
    assert "envelope version" not in out.stderr


def test_events_names_bad_lines_and_warns_on_an_unknown_envelope_version(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    known = {"v": 1, "user_id": "ann", "tool": "t", "category": "tool_guard", "name": "timeout", "outcome": "allowed"}
    path.write_text("\n".join([json.dumps(known), "{broken", json.dumps({**known, "v": 2}), json.dumps(known)]) + "\n")
    out = actguard_cli("events", str(path))
    assert out.returncode == 0, out.stderr
    assert lines(out.stdout)[0] == f"3 events in {path}"
    assert "actguard events: skipped line 2: not a JSON event object" in out.stderr
    assert "actguard events: warning: line 3: an envelope version other than 1" in out.stderr


def test_events_reads_standard_input() -> None:
    event = {
        "v": 1,
        "user_id": "zoe",
        "tool": "t",
        "category": "tool_guard",
        "name": "timeout",
        "outcome": "intervened",
    }
    out = subprocess.run(
        [sys.executable, "-m", "actguard", "events", "-"],
        input=json.dumps(event) + "\n",
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "1 event in standard input" in out.stdout
    assert "zoe t timeout intervened 1" in lines(out.stdout)


def test_events_of_a_missing_file_exit_1(tmp_path: Path) -> None:
    out = actguard_cli("events", str(tmp_path / "nope.jsonl"))
    assert out.returncode == 1
    assert re.search(r"actguard events: cannot read '.*nope\.jsonl': No such file or directory", out.stderr)


# -- arguments -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "the following arguments are required: COMMAND"),
        (("bogus",), "invalid choice: 'bogus'"),
        (("prices",), "the following arguments are required: model"),
        (("prices", "gpt-4o", "--input", "-1"), "argument --input: expected a whole number of tokens >= 0, got '-1'"),
        (("prices", "gpt-4o", "--output", "many"), "argument --output: expected a whole number of tokens >= 0"),
        (("prices", "gpt-4o", "--input", "5", "--cached", "10"), "--cached (10) cannot exceed --input (5)"),
        (("events",), "the following arguments are required: file"),
        (("demo", "--fast"), "unrecognized arguments: --fast"),
        (("scripted-model", "--port", "70000"), "argument --port: expected a port number 0-65535, got '70000'"),
    ],
)
def test_bad_arguments_exit_2_with_usage(args: tuple[str, ...], message: str) -> None:
    out = actguard_cli(*args)
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr.startswith("usage: actguard")
    assert message in out.stderr


def test_help_lists_the_commands() -> None:
    out = actguard_cli("--help")
    assert out.returncode == 0
    for command in ("demo", "prices", "events", "scripted-model"):
        assert command in out.stdout


# -- --version, scripted-model -------------------------------------------------------------------------------------
def test_version_is_the_installed_distributions() -> None:
    from importlib.metadata import version

    out = actguard_cli("--version")
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"actguard {version('actguard')}\n"


def test_scripted_model_serves_what_it_says_to_export() -> None:
    """`actguard scripted-model` prints the variables to export; the OpenAI SDK pointed there gets a metered answer."""
    openai = pytest.importorskip("openai")
    proc = subprocess.Popen(
        [sys.executable, "-m", "actguard", "scripted-model", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        assert proc.stdout is not None
        printed = [proc.stdout.readline() for _ in range(3)]
        export = printed[2].split()
        assert export[0] == "export", printed
        env = dict(item.split("=", 1) for item in export[1:])
        assert env["OPENAI_API_KEY"] == "scripted"
        assert env["OPENAI_BASE_URL"].startswith("http://127.0.0.1:")
        # Our own http client: openai < 1.55 builds one passing `proxies`, which httpx >= 0.28 no longer accepts.
        client = openai.OpenAI(
            base_url=env["OPENAI_BASE_URL"],
            api_key=env["OPENAI_API_KEY"],
            http_client=openai.DefaultHttpxClient(trust_env=False),
        )
        responses_api = hasattr(client, "responses")  # openai >= 1.66
        with actguard.BudgetGuard(usd_limit=1.0) as guard:
            reply = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])
            if responses_api:
                answer = client.responses.create(model="gpt-4o", input="Hi")
                assert "scripted model" in answer.output_text
        client.close()
        assert "scripted model" in (reply.choices[0].message.content or "")
        assert guard.usage_by_model["gpt-4o"].calls == (2 if responses_api else 1)
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_scripted_model_reports_a_busy_port() -> None:
    from actguard.cli._scripted_model import serve

    with serve() as base_url:
        port = base_url.rsplit(":", 1)[1].split("/")[0]
        out = actguard_cli("scripted-model", "--port", port)
    assert out.returncode == 1
    assert f"actguard scripted-model: cannot listen on 127.0.0.1:{port}" in out.stderr
