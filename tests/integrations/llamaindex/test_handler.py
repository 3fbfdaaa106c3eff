"""ActGuardHandler: metering every kind of LLM call, refusing the next call once spent, a budget per run."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Sequence
from typing import Any

import pytest
from contract import MODEL, require

require("llama_index.core")

from llama_index.core.agent.workflow import FunctionAgent  # noqa: E402
from llama_index.core.base.llms.types import ChatMessage, ChatResponse  # noqa: E402
from llama_index.core.llms.callbacks import llm_chat_callback  # noqa: E402
from llamaindex_harness import agent_for  # noqa: E402

import actguard  # noqa: E402
from actguard import BudgetExceededError, BudgetGuard, ConfigError  # noqa: E402
from actguard.exceptions import ActGuardWarning  # noqa: E402
from actguard_llamaindex import (  # noqa: E402
    LLAMA_INDEX_CORE_VERSION,
    ActGuardHandler,
    budget_error,
    guard_tool,
    install,
    instrument,
    uninstall,
    uninstrument,
)
from actguard_llamaindex._handler import _llms_of  # noqa: E402
from actguard_llamaindex._usage import usage_of  # noqa: E402
from actguard_llamaindex.testing import ScriptedLLM, answer, tool_call  # noqa: E402

MSG = [ChatMessage(role="user", content="hi")]


def scripted(*replies: Any) -> ScriptedLLM:
    return instrument(ScriptedLLM(list(replies) or [answer("hello world")]))


def search(query: str) -> str:
    """Search the knowledge base."""
    return f"result for {query}"


def test_meters_chat_completion_and_streams_sync_and_async() -> None:
    llm = scripted()

    async def async_calls() -> None:
        await llm.achat(MSG)
        async for _ in await llm.astream_chat(MSG):
            pass
        await llm.acomplete("hi")
        async for _ in await llm.astream_complete("hi"):
            pass

    with BudgetGuard(user_id="alice") as guard:
        llm.chat(MSG)
        for _ in llm.stream_chat(MSG):
            pass
        llm.complete("hi")
        for _ in llm.stream_complete("hi"):
            pass
        asyncio.run(async_calls())
    assert llm.calls == 8
    assert guard.tokens_used == 8 * 120
    by_model = guard.usage_by_model[MODEL]
    assert (by_model.calls, by_model.input_tokens, by_model.output_tokens) == (8, 800, 160)
    assert guard.usd_used == pytest.approx(8 * (100 * 2.5 + 20 * 10) / 1e6)


def test_refuses_the_next_call_once_spent_before_it_reaches_the_model() -> None:
    llm = scripted()
    with BudgetGuard(user_id="alice", token_limit=200) as guard:
        llm.chat(MSG)
        llm.chat(MSG)  # 240 tokens: the limit is crossed by this call, which is not refused
        with pytest.raises(BudgetExceededError) as caught:
            llm.chat(MSG)
        with pytest.raises(BudgetExceededError):
            asyncio.run(llm.achat(MSG))
    assert llm.calls == 2
    assert (caught.value.limit_type, caught.value.limit, caught.value.used) == ("token", 200, 240)
    assert guard.tokens_used == 240


def test_outside_any_budget_the_handler_does_nothing() -> None:
    llm = scripted()
    assert llm.chat(MSG).message.content == "hello world"
    assert llm.calls == 1


# llama-index-core 0.12 agents always stream the LLM; later ones have FunctionAgent(streaming=...), True by default.
STREAMING_MODES = [True, False] if "streaming" in FunctionAgent.model_fields else [True]


@pytest.mark.parametrize("streaming", STREAMING_MODES, ids=lambda s: "llm-streaming" if s else "llm-not-streaming")
def test_a_budget_stop_mid_run_reaches_the_caller_and_the_stream_ends(streaming: bool) -> None:
    turns = [tool_call("search", {"query": f"q{i}"}, input_tokens=500, output_tokens=100) for i in range(3)]
    llm = ScriptedLLM([*turns, answer("done")])
    guard = ActGuardHandler(user_id="alice", token_limit=1000)
    agent = agent_for(llm, [guard_tool(search)], **({} if streaming else {"streaming": False}))

    async def main() -> tuple[Any, list[Any], BaseException | None]:
        handler = guard.run(agent, user_msg="go")
        events = [ev async for ev in handler.stream_events()]
        try:
            await handler
        except Exception as exc:
            return handler, events, exc
        return handler, events, None

    handler, events, error = asyncio.run(asyncio.wait_for(main(), timeout=60))
    err = budget_error(error)
    assert err is not None, error
    if tuple(int(p) for p in LLAMA_INDEX_CORE_VERSION.split(".")[:2]) >= (0, 14):
        assert error is err  # llama-index-workflows 2 re-raises the step's error as it is
    else:
        assert type(error).__name__ == "WorkflowRuntimeError" and error.__cause__ is err
    assert (err.limit_type, err.limit, err.used) == ("token", 1000, 1200)
    assert llm.calls == 2
    assert llm.observations == ["result for q0"]
    assert events, "the stream delivered the run's events before it ended"
    spent = guard.budget_for(handler)
    assert spent is guard.last_budget and spent is not None
    assert spent.tokens_used == 1200


def test_each_run_gets_its_own_budget_nested_in_the_active_guard() -> None:
    guard = ActGuardHandler(user_id="alice", token_limit=10_000)

    async def one(i: int) -> Any:
        llm = ScriptedLLM(
            [tool_call("search", {"query": str(i)}, input_tokens=10 * (i + 1)), answer("ok", input_tokens=10 * (i + 1))]
        )
        handler = guard.run(agent_for(llm, [guard_tool(search)]), user_msg="go")
        await handler
        return handler

    async def main() -> list[Any]:
        return list(await asyncio.gather(*(one(i) for i in range(6))))

    with BudgetGuard(user_id="alice") as outer:
        handlers = asyncio.run(main())
    per_run = [guard.budget_for(h) for h in handlers]
    assert [b.tokens_used for b in per_run if b is not None] == [2 * (10 * (i + 1) + 20) for i in range(6)]
    assert outer.tokens_used == sum(2 * (10 * (i + 1) + 20) for i in range(6))
    assert all(b is not None and b.parent is outer for b in per_run)


def test_an_enclosing_guard_limit_stops_the_run_too() -> None:
    llm = ScriptedLLM([tool_call("search", {"query": "a"}), tool_call("search", {"query": "b"}), answer("ok")])
    guard = ActGuardHandler()  # no per-run limit

    async def main() -> BaseException | None:
        try:
            await guard.run(agent_for(llm, [guard_tool(search)]), user_msg="go")
        except Exception as exc:
            return exc
        return None

    with BudgetGuard(user_id="alice", token_limit=200) as outer:
        error = asyncio.run(main())
    err = budget_error(error)
    assert err is not None and err.limit == 200
    assert llm.calls == 2 and outer.tokens_used == 240


class _NestedLLM(ScriptedLLM):
    """An LLM whose achat calls its own decorated chat (as LlamaIndex's mock LLMs do), with responses without ids."""

    def _raw(self, response_id: str, message: ChatMessage | None, usage: dict[str, int] | None) -> dict[str, Any]:
        raw = super()._raw(response_id, message, usage)
        del raw["id"]
        return raw

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self.chat(messages, **kwargs)


def test_a_call_reported_by_nested_callbacks_counts_once() -> None:
    llm = instrument(_NestedLLM([answer("hi")]))
    with BudgetGuard() as guard:
        asyncio.run(llm.achat(MSG))
        asyncio.run(llm.achat(MSG))
    assert llm.calls == 2
    assert guard.tokens_used == 240 and guard.usage.calls == 2


def test_instrument_is_idempotent_and_reversible() -> None:
    from llama_index.core.agent.workflow import AgentWorkflow

    llm = ScriptedLLM([answer("hi")])
    workflow = AgentWorkflow(agents=[agent_for(llm, [search])], root_agent="assistant")
    assert list(_llms_of(workflow)) == [llm]
    instrument(workflow)
    instrument(llm)
    assert sum(isinstance(h, ActGuardHandler) for h in llm.callback_manager.handlers) == 1
    uninstrument(workflow)
    assert not any(isinstance(h, ActGuardHandler) for h in llm.callback_manager.handlers)
    with BudgetGuard() as guard:
        llm.chat(MSG)
    assert guard.tokens_used == 0  # not instrumented: not metered by the handler


def test_install_meters_llms_built_afterwards() -> None:
    from llama_index.core import Settings

    before = Settings._callback_manager
    installed = install()
    try:
        assert install() is installed
        llm = ScriptedLLM([answer("hi")])
        with BudgetGuard() as guard:
            llm.chat(MSG)
        assert guard.tokens_used == 120
    finally:
        uninstall()
        Settings._callback_manager = before
    assert not any(isinstance(h, ActGuardHandler) for h in Settings.callback_manager.handlers)


def test_a_response_without_usage_is_charged_an_estimate_and_warns_once() -> None:
    """No layer could meter the call: it is charged an estimate (one token per 4 characters of the prompt and the
    answer), warned about once, and the budget stops the next call once the estimates reach its limit."""

    class Silent(ScriptedLLM):
        def _usage(self, reply: Any) -> dict[str, int]:
            return {}

        def _raw(self, response_id: str, message: Any, usage: Any) -> dict[str, Any]:
            return {"id": response_id, "model": self.model}

    llm = instrument(Silent([answer("hi")]))
    with BudgetGuard(token_limit=10) as guard:
        with pytest.warns(ActGuardWarning, match="no token usage"):
            llm.chat(MSG)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            llm.chat(MSG)
        assert guard.usage.calls == 2 and guard.tokens_used == 2 * 7  # "hello" prompt messages + "hi" per call
        with pytest.raises(BudgetExceededError):
            llm.chat(MSG)


def test_usage_reads_provider_details() -> None:
    class R:
        def __init__(self, raw: Any, extra: dict[str, Any] | None = None) -> None:
            self.raw = raw
            self.additional_kwargs = extra or {}

    openai_raw = {
        "usage": {
            "prompt_tokens": 100,
            "completion_tokens": 50,
            "prompt_tokens_details": {"cached_tokens": 40},
            "completion_tokens_details": {"reasoning_tokens": 30},
        }
    }
    u = usage_of(R(openai_raw), "gpt-4o", "openai")
    assert u is not None and (u.input_tokens, u.cached_input_tokens, u.output_tokens, u.reasoning_tokens) == (
        100,
        40,
        50,
        30,
    )
    anthropic_raw = {
        "usage": {
            "input_tokens": 10,
            "cache_read_input_tokens": 5,
            "cache_creation_input_tokens": 7,
            "output_tokens": 3,
        }
    }
    u = usage_of(R(anthropic_raw), "claude-sonnet-4-5", "anthropic")
    assert u is not None and (u.input_tokens, u.cached_input_tokens, u.cache_write_tokens, u.output_tokens) == (
        22,
        5,
        7,
        3,
    )
    responses_raw = {"usage": {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 4}, "output_tokens": 6}}
    u = usage_of(R(responses_raw), "gpt-4o", "openai")
    assert u is not None and (u.input_tokens, u.cached_input_tokens, u.output_tokens) == (10, 4, 6)
    u = usage_of(R(None, {"prompt_tokens": 7, "completion_tokens": 2}), "m", None)
    assert u is not None and (u.input_tokens, u.output_tokens) == (7, 2)
    assert usage_of(R(None), "m", None) is None


def test_bad_arguments_fail_at_construction() -> None:
    with pytest.raises(ConfigError, match="token_limit"):
        ActGuardHandler(token_limit=0)
    with pytest.raises(ConfigError, match="max_runs"):
        ActGuardHandler(max_runs=0)
    with pytest.raises(ConfigError, match="instrument"):
        instrument(object())
    assert ActGuardHandler().budget_for("no-such-run") is None
    assert actguard.current_budget() is None


def test_a_multi_agent_workflow_is_one_run_with_one_budget() -> None:
    from llama_index.core.agent.workflow import AgentWorkflow

    triage = ScriptedLLM([tool_call("handoff", {"to_agent": "billing", "reason": "a refund"}), answer("unused")])
    billing = ScriptedLLM([tool_call("search", {"query": "refund"}), answer("refunded")])
    workflow = AgentWorkflow(
        agents=[
            agent_for(triage, [], can_handoff_to=["billing"]).model_copy(update={"name": "triage"}),
            agent_for(billing, [guard_tool(search)]).model_copy(update={"name": "billing"}),
        ],
        root_agent="triage",
    )
    guard = ActGuardHandler(user_id="alice", token_limit=10_000)

    async def main() -> Any:
        handler = guard.run(workflow, user_msg="I want a refund")
        assert actguard.current_budget() is None  # the run's budget is the run's, not the caller's
        async for _ in handler.stream_events():
            pass
        return handler, await handler

    handler, result = asyncio.run(main())
    assert "refunded" in str(result)
    spent = guard.budget_for(handler)
    assert (triage.calls, billing.calls) == (1, 2)
    assert spent is not None and spent.tokens_used == 3 * 120 and spent.usage.calls == 3
    assert billing.observations[-1] == "result for refund"  # after the handoff message


def test_an_unpriced_model_under_a_usd_limit_is_refused_before_the_call() -> None:
    llm = instrument(ScriptedLLM([answer("hi")], model="no-such-model-xyz"))
    with BudgetGuard(usd_limit=0.01), pytest.raises(actguard.UnknownModelPriceError):
        llm.chat(MSG)
    assert llm.calls == 0
    guard = ActGuardHandler(
        usd_limit=0.01, on_unknown_model="warn", fallback_price={"input_per_mtok": 1.0, "output_per_mtok": 2.0}
    )

    async def main() -> Any:
        return await guard.run(agent_for(ScriptedLLM([answer("hi")], model="no-such-model-xyz"), []), user_msg="go")

    with pytest.warns(ActGuardWarning, match="no-such-model-xyz"):
        assert "hi" in str(asyncio.run(main()))
    spent = guard.last_budget
    assert spent is not None and spent.usd_used == pytest.approx((100 * 1.0 + 20 * 2.0) / 1e6)


def test_a_refusal_is_reported_once() -> None:
    from actguard.testing import capture_events

    llm = scripted()
    with capture_events() as events, BudgetGuard(user_id="alice", token_limit=100):
        llm.chat(MSG)
        with pytest.raises(BudgetExceededError):
            llm.chat(MSG)
    # Once by the guard (its limit) and once as the adapter's stop before the next call (the event every adapter
    # emits, with one payload).
    blocked = sorted((e["category"], e["name"]) for e in events if e.get("outcome") == "blocked")
    assert blocked == [("budget", "budget_exceeded"), ("budget", "llm_call")], blocked
    [stop] = [e for e in events if e["name"] == "llm_call" and e["outcome"] == "blocked"]
    assert stop["payload"] == {"guard": None, "limit_type": "token", "limit": 100, "used": 120}


def test_one_agent_serves_concurrent_runs_each_with_its_own_budget() -> None:
    replies = [tool_call("search", {"query": "x"}, input_tokens=50), answer("ok", input_tokens=70)]
    agent = agent_for(ScriptedLLM(replies, per_conversation=True), [guard_tool(search)])
    guard = ActGuardHandler(user_id="alice", token_limit=1_000)

    async def main() -> list[Any]:
        handlers = [guard.run(agent, user_msg=f"go {i}") for i in range(8)]
        await asyncio.gather(*handlers)
        return handlers

    handlers = asyncio.run(main())
    budgets = [guard.budget_for(h) for h in handlers]
    assert len({id(b) for b in budgets}) == 8
    assert [b.tokens_used if b is not None else None for b in budgets] == [(50 + 20) + (70 + 20)] * 8


try:
    from llama_index.core.llms import MockFunctionCallingLLM
except ImportError:  # pragma: no cover - older releases
    MockFunctionCallingLLM = None


@pytest.mark.skipif(MockFunctionCallingLLM is None, reason="llama-index-core 0.12.23 has no MockFunctionCallingLLM")
def test_llama_index_own_mock_llm_is_refused_once_the_budget_is_spent() -> None:
    # LlamaIndex's mock reports no usage (so it is charged an estimate; the handler says so once), and a spent
    # budget stops it before its first call: the check does not depend on usage.
    assert MockFunctionCallingLLM is not None
    llm = MockFunctionCallingLLM()
    agent = agent_for(llm, [guard_tool(search)])  # type: ignore[arg-type]
    guard = ActGuardHandler()

    async def main() -> BaseException | None:
        try:
            await guard.run(agent, user_msg="go")
        except Exception as exc:
            return exc
        return None

    with BudgetGuard(token_limit=10) as outer:
        outer.record(actguard.LLMUsage(model=MODEL, input_tokens=10))
        error = asyncio.run(main())
    assert budget_error(error) is not None
    with BudgetGuard(token_limit=10_000) as fresh, pytest.warns(ActGuardWarning, match="no token usage"):
        assert asyncio.run(main()) is None
    assert fresh.usage.calls >= 1 and fresh.tokens_used > 0  # each call charged an estimate
