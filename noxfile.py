"""Task runner: lint, typecheck, core tests, one session per framework x (lowest, latest) (LangChain: + lowest-v1).

Run everything with ``python -m nox``; one session with ``python -m nox -s tests``. ``bench`` (the benchmarks against
their peer libraries) is not part of the default run: ``python -m nox -s bench``.
Each framework gets its own virtualenv because their pins conflict (docs/DESIGN.md, "Layout").
Interpreters cannot be downloaded here, so every session uses the Python running nox.
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True

TEST_DEPS = ["pytest>=8", "pytest-asyncio>=0.24", "httpx>=0.27"]
# Everything the core suite drives for real: the SDKs it meters, and redis-py for the Redis store.
CORE_TEST_DEPS = [*TEST_DEPS, "openai>=1.40", "anthropic>=0.40", "google-genai>=1.0", "redis>=5.0", "rich>=13"]

# Framework sessions: name -> (extra, test folder, {"lowest": [pins], "latest": [pins]}); a framework may name more
# releases to test (langchain's "lowest-v1"): each key is a session.
# A framework session must fail, not skip, when its framework is missing: ACTGUARD_REQUIRE_FRAMEWORK does that.
FRAMEWORKS: dict[str, tuple[str, str, dict[str, list[str]]]] = {
    # 1.15.3: the first release with execution-scoped hooks (crewai.hooks.dispatch.scoped_hooks).
    "crewai": ("crewai", "tests/integrations/crewai", {"lowest": ["crewai==1.15.3"], "latest": ["crewai"]}),
    # langchain-core 0.3.10: the first release whose streamed usage keeps the cached / reasoning token details.
    # The 0.3 line has callbacks and tools; ActGuardMiddleware needs langchain v1, tested at its lowest ("lowest-v1")
    # and latest.
    "langchain": (
        "langchain",
        "tests/integrations/langchain",
        {
            # langchain-core 0.3.10 predates pydantic 2.11, whose deprecation warnings it trips.
            "lowest": ["langchain-core==0.3.10", "pydantic<2.11"],
            # langchain 1.0.0: the first release with create_agent middleware (AgentMiddleware, wrap_model_call), so
            # the lowest ActGuardMiddleware supports. langchain-core 1.0.0 and langgraph 1.0.0: its own floors
            # (langgraph < 1.1); langchain-openai 1.0.0: the first for langchain-core 1.x (0.3.35 wants core < 1.0).
            # Below later releases, tested as warned: a resumed run's one budget needs langchain 1.2.9
            # (test_resume.py), budget_for by the config's run_id without the handler langgraph 1.1.5
            # (test_middleware.py). langgraph-prebuilt / -checkpoint resolve to the newest langgraph 1.0.0 allows.
            "lowest-v1": ["langchain==1.0.0", "langchain-core==1.0.0", "langgraph==1.0.0", "langchain-openai==1.0.0"],
            # opentelemetry-instrumentation-langchain: LangChain's OpenTelemetry spans, for the test that
            # actguard.otel's spans nest under them (tests/integrations/langchain/test_otel.py).
            "latest": [
                "langchain-core",
                "langchain>=1.0",
                "langchain-openai",
                "opentelemetry-sdk",
                "opentelemetry-instrumentation-langchain",
            ],
        },
    ),
    # llama-index-core 0.12.23: the first release where a single FunctionAgent runs as a workflow (agent.run).
    # llama-index-llms-openai: LlamaIndex's OpenAI LLM, for the test that a call metered twice counts once (0.3.38
    # imports an openai type that openai removed after 1.8x, hence the openai pin).
    "llamaindex": (
        "llamaindex",
        "tests/integrations/llamaindex",
        {
            "lowest": ["llama-index-core==0.12.23", "llama-index-llms-openai==0.3.38", "openai==1.80.0"],
            "latest": ["llama-index-core", "llama-index-llms-openai"],
        },
    ),
    # 0.2.11: the first release whose Runner calls RunHooks.on_llm_start / on_llm_end (0.2.9 declared them on
    # RunHooks, but until 0.2.11 the runner called them only on Agent.hooks). 0.24 needs openai >= 3.
    "openai_agents": (
        "openai-agents",
        "tests/integrations/openai_agents",
        # opentelemetry-sdk (latest): the test that actguard.otel's spans stay in the trace around a run.
        {"lowest": ["openai-agents==0.2.11"], "latest": ["openai-agents>=0.24", "openai>=3", "opentelemetry-sdk"]},
    ),
    # pydantic-ai-slim 1.71.0: the first release with capabilities (AbstractCapability: wrap_run,
    # wrap_model_request), the public hooks the adapter's per-run budget is built on; 1.70.0 has no
    # pydantic_ai.capabilities. [openai]: its OpenAI model, driven over httpx.MockTransport in the end-to-end tests.
    "pydantic_ai": (
        "pydantic-ai",
        "tests/integrations/pydantic_ai",
        {"lowest": ["pydantic-ai-slim[openai]==1.71.0"], "latest": ["pydantic-ai-slim[openai]"]},
    ),
}


# Adapter modules that need more than a session installs, left out of its type check: ActGuardMiddleware needs
# langchain v1 (the lowest session has langchain-core 0.3 alone).
MYPY_SKIP: dict[tuple[str, str], list[str]] = {("langchain", "lowest"): [r"_middleware\.py$"]}


@nox.session
def lint(session: nox.Session) -> None:
    """ruff format --check and ruff check."""
    session.install("ruff>=0.6")
    session.run("ruff", "format", "--check", ".")
    session.run("ruff", "check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """Strict mypy on the actguard core."""
    session.install(
        "mypy>=1.11", "-e", ".[redis,otel]", "openai>=1.40", "anthropic>=0.40", "google-genai>=1.0", "httpx"
    )
    session.run("mypy")


def _framework_session(session: nox.Session, name: str, version: str) -> None:
    extra, folder, pins = FRAMEWORKS[name]
    # [redis]: the async hooks under a shared per-run budget are tested against a redis-server the tests start.
    session.install("-e", f".[{extra},redis]", *TEST_DEPS, "mypy>=1.11", *pins[version])
    # Strict types of the adapter against the framework release this session installs.
    skip = [arg for module in MYPY_SKIP.get((name, version), []) for arg in ("--exclude", module)]
    session.run("mypy", "--strict", *skip, f"integrations/{name}/actguard_{name}")
    session.run(
        "pytest",
        folder,
        *session.posargs,
        env={"ACTGUARD_REQUIRE_FRAMEWORK": name},
    )


# Each framework's releases: "lowest", "latest", and any other its FRAMEWORKS entry names (langchain's "lowest-v1").
FRAMEWORK_VERSIONS = [(name, version) for name in sorted(FRAMEWORKS) for version in FRAMEWORKS[name][2]]


@nox.session
@nox.parametrize(("framework", "version"), FRAMEWORK_VERSIONS or [("none", "none")])
def framework(session: nox.Session, framework: str, version: str) -> None:
    """Adapter tests of one framework at its lowest supported or latest release."""
    if framework == "none":
        session.skip("no framework adapters yet")
    _framework_session(session, framework, version)


@nox.session
def tests(session: nox.Session) -> None:
    """The core suite (tests/core), against real SDKs and a redis-server the tests start themselves."""
    session.install("-e", ".[redis]", *CORE_TEST_DEPS)
    session.run("pytest", "tests/core", *session.posargs)


# SDK sessions for the budget meters: each SDK at its lowest supported release and at its latest, the others latest.
# openai 1.66.0: the first release with the Responses API. anthropic 0.49.0: cache read / write usage and the stream
# internals the meter reads. google-genai 1.10.0: models thoughts_token_count (1.5 drops it) and raises no pydantic
# deprecation warnings (1.0 does, and the suite runs with warnings as errors).
SDKS: dict[str, dict[str, str]] = {
    "openai": {"lowest": "openai==1.66.0", "latest": "openai>=3"},
    "anthropic": {"lowest": "anthropic==0.49.0", "latest": "anthropic"},
    "google": {"lowest": "google-genai==1.10.0", "latest": "google-genai"},
}


@nox.session
@nox.parametrize("version", ["lowest", "latest"])
@nox.parametrize("sdk", sorted(SDKS))
def sdk(session: nox.Session, sdk: str, version: str) -> None:
    """The budget suite (tests/core/budget) with one SDK at its lowest supported or latest release."""
    others = [pins["latest"] for name, pins in SDKS.items() if name != sdk]
    # [redis]: the async SDK calls under a shared budget are tested against a redis-server the tests start.
    session.install("-e", ".[redis]", *TEST_DEPS, *others, SDKS[sdk][version])
    session.run("pytest", "tests/core/budget", *session.posargs)


# The command line and its demo with the `demo` extra's lowest OpenAI SDK (openai>=1.40) and the latest.
DEMO_OPENAI = {"lowest": "openai==1.40.0", "latest": "openai"}


@nox.session
@nox.parametrize("version", ["lowest", "latest"])
def demo(session: nox.Session, version: str) -> None:
    """The command line (tests/core/cli: `actguard demo`, `prices`, `events`) at each end of the demo's openai range."""
    session.install("-e", ".[demo]", *TEST_DEPS, DEMO_OPENAI[version])
    session.run("pytest", "tests/core/cli", *session.posargs)


# OpenTelemetry (actguard.otel, tests/otel) at the lowest supported opentelemetry-api and the latest, the SDK (the
# in-memory exporter and reader the tests read) at the same release. 1.30.0: the first API whose
# Meter.create_histogram takes explicit_bucket_boundaries_advisory, which gen_ai.client.token.usage needs to carry
# the GenAI conventions' bucket boundaries.
OTEL = {
    "lowest": ["opentelemetry-api==1.30.0", "opentelemetry-sdk==1.30.0"],
    "latest": ["opentelemetry-api", "opentelemetry-sdk"],
}


@nox.session
@nox.parametrize("version", ["lowest", "latest"])
def otel(session: nox.Session, version: str) -> None:
    """actguard.otel's spans and metrics (tests/otel) with the lowest supported or the latest OpenTelemetry."""
    session.install("-e", ".[otel]", *TEST_DEPS, "openai>=1.66", *OTEL[version])
    session.run("pytest", "tests/otel", *session.posargs)


# The core benchmarks (benchmarks/*.py but the adapters'), each against the peers it names in benchmarks/_peers.py.
# The adapter benchmarks need their framework: run them with the framework session's venv (see the README).
CORE_BENCHMARKS = ["guards.py", "custody.py", "events.py", "budget.py", "stores.py"]


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """The core benchmarks against their peer libraries (limits, pybreaker, tenacity, cachetools...), in one venv."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent / "benchmarks"))
    from _peers import BENCH_PEERS

    session.install("-e", ".[redis]", *BENCH_PEERS)
    for script in session.posargs or CORE_BENCHMARKS:
        session.run("python", f"benchmarks/{script}")
