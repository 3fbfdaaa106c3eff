"""ActGuardCallbackHandler on LCEL chains: metering (sync, async, streaming), budget stops, nesting, concurrency."""

from __future__ import annotations

from contract import MODEL, require

require("langchain_core")

import asyncio  # noqa: E402
import threading  # noqa: E402
import uuid  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from langchain_core.language_models.llms import LLM  # noqa: E402
from langchain_core.messages import AIMessage, HumanMessage  # noqa: E402
from langchain_core.output_parsers import StrOutputParser  # noqa: E402
from langchain_core.outputs import Generation, LLMResult  # noqa: E402
from langchain_core.prompts import ChatPromptTemplate  # noqa: E402
from langchain_core.runnables import RunnableLambda  # noqa: E402
from langchain_harness import lc_tool, tool_loop  # noqa: E402

import actguard  # noqa: E402
from actguard import BudgetExceededError, BudgetGuard, ConfigError, LLMUsage  # noqa: E402
from actguard_langchain import ActGuardCallbackHandler  # noqa: E402
from actguard_langchain.testing import ScriptedChatModel, answer, tool_call  # noqa: E402

PROMPT = ChatPromptTemplate.from_messages([("user", "{question}")])


def chain_of(model: ScriptedChatModel) -> Any:
    return PROMPT | model | StrOutputParser()


def detailed() -> AIMessage:
    return answer("Rome was not built in a day", input_tokens=1000, output_tokens=300, cache_read=400, reasoning=120)


def expected_usd() -> float:
    usage = LLMUsage(
        MODEL, "openai", input_tokens=1000, cached_input_tokens=400, output_tokens=300, reasoning_tokens=120
    )
    return actguard.prices.cost_of(usage)


def assert_metered(guard: BudgetGuard | None) -> None:
    assert guard is not None
    assert guard.tokens_used == 1300
    usage = guard.usage_by_model[MODEL]
    assert (usage.calls, usage.input_tokens, usage.cached_input_tokens) == (1, 1000, 400)
    assert (usage.output_tokens, usage.reasoning_tokens) == (300, 120)
    assert guard.usd_used == pytest.approx(expected_usd())
    assert guard.usd_used < actguard.prices.cost_of(LLMUsage(MODEL, "openai", input_tokens=1000, output_tokens=300))


def test_invoke_meters_usage_with_cache_and_reasoning_details() -> None:
    handler = ActGuardCallbackHandler(user_id="alice")
    out = chain_of(ScriptedChatModel(responses=[detailed()])).invoke({"question": "q"}, {"callbacks": [handler]})
    assert out == "Rome was not built in a day"
    assert_metered(handler.last_budget)
    assert handler.last_budget is not None and handler.last_budget.user_id == "alice"


def test_stream_meters_the_aggregated_usage() -> None:
    handler = ActGuardCallbackHandler()
    chunks = list(
        chain_of(ScriptedChatModel(responses=[detailed()])).stream({"question": "q"}, {"callbacks": [handler]})
    )
    assert len(chunks) > 1 and "".join(chunks) == "Rome was not built in a day"
    assert_metered(handler.last_budget)


async def test_ainvoke_and_astream_meter_usage() -> None:
    handler = ActGuardCallbackHandler()
    model = ScriptedChatModel(responses=[detailed(), detailed()])
    first, second = uuid.uuid4(), uuid.uuid4()
    await chain_of(model).ainvoke({"question": "q"}, {"callbacks": [handler], "run_id": first})
    chunks = [c async for c in chain_of(model).astream({"question": "q"}, {"callbacks": [handler], "run_id": second})]
    assert len(chunks) > 1
    assert_metered(handler.budget_for(first))
    assert_metered(handler.budget_for(second))


def two_calls(model: ScriptedChatModel) -> Any:
    """A chain calling the model twice: the second call must be refused once the first crossed the limit."""
    return model | RunnableLambda(lambda m: [HumanMessage(f"go on from {m.content}")]) | model | StrOutputParser()


def big() -> AIMessage:
    return answer("first part", input_tokens=900, output_tokens=200)


@pytest.mark.parametrize("mode", ["invoke", "stream", "ainvoke", "astream"])
async def test_budget_stops_the_run_before_the_next_model_call(mode: str) -> None:
    model = ScriptedChatModel(responses=[big(), "never"])
    handler = ActGuardCallbackHandler(user_id="bob", token_limit=1000)
    config: Any = {"callbacks": [handler]}
    chain = two_calls(model)
    with pytest.raises(BudgetExceededError) as info:
        if mode == "invoke":
            chain.invoke([HumanMessage("start")], config)
        elif mode == "stream":
            list(chain.stream([HumanMessage("start")], config))
        elif mode == "ainvoke":
            await chain.ainvoke([HumanMessage("start")], config)
        else:
            [c async for c in chain.astream([HumanMessage("start")], config)]
    assert model.calls == 1
    err = info.value
    assert (err.limit_type, err.limit, err.used, err.user_id) == ("token", 1000, 1100, "bob")
    assert handler.last_budget is not None and handler.last_budget.tokens_used == 1100
    assert handler.runs.live_runs == 0  # the stopped run is forgotten, its budget kept


def test_usd_limit_stops_the_run() -> None:
    model = ScriptedChatModel(responses=[answer("a", input_tokens=10_000, output_tokens=1_000), "never"])
    handler = ActGuardCallbackHandler(usd_limit=0.01)  # gpt-4o: $0.025 + $0.01 for that call
    with pytest.raises(BudgetExceededError) as info:
        two_calls(model).invoke([HumanMessage("start")], {"callbacks": [handler]})
    assert info.value.limit_type == "usd" and model.calls == 1
    assert info.value.used == pytest.approx(0.035)


def test_each_top_level_run_gets_a_fresh_budget() -> None:
    handler = ActGuardCallbackHandler(token_limit=1000)
    model = ScriptedChatModel(responses=[big(), big(), big()])
    for _ in range(3):  # each run alone stays under the limit (1100 tokens crossing it only on its last call)
        chain_of(model).invoke({"question": "q"}, {"callbacks": [handler]})
        assert handler.last_budget is not None and handler.last_budget.tokens_used == 1100
    assert model.calls == 3


def test_inside_a_budget_guard_the_run_charges_it_and_its_limits_hold() -> None:
    handler = ActGuardCallbackHandler()  # no limits of its own
    model = ScriptedChatModel(responses=[big(), big(), "never"])
    with BudgetGuard(user_id="carol", token_limit=2000) as outer:
        chain_of(model).invoke({"question": "q"}, {"callbacks": [handler]})
        assert outer.tokens_used == 1100
        with pytest.raises(BudgetExceededError) as info:
            two_calls(model).invoke([HumanMessage("start")], {"callbacks": [handler]})
    assert model.calls == 2  # the second run's second call was refused on the enclosing guard's limit
    assert (info.value.user_id, info.value.used) == ("carol", 2200)
    assert outer.tokens_used == 2200
    assert handler.last_budget is not None and handler.last_budget.tokens_used == 1100


def test_a_shared_handler_keeps_concurrent_thread_runs_apart() -> None:
    handler = ActGuardCallbackHandler(token_limit=10_000)
    run_ids = [uuid.uuid4() for _ in range(8)]
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            model = ScriptedChatModel(responses=[answer(f"r{i}", input_tokens=10 * (i + 1), output_tokens=i + 1)] * 2)
            barrier.wait()
            two_calls(model).invoke([HumanMessage("go")], {"callbacks": [handler], "run_id": run_ids[i]})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for i, run_id in enumerate(run_ids):
        guard = handler.budget_for(run_id)
        assert guard is not None and guard.tokens_used == 2 * 11 * (i + 1)
        assert guard.usage.calls == 2
    assert handler.runs.live_runs == 0


async def test_a_shared_handler_keeps_concurrent_tasks_apart() -> None:
    handler = ActGuardCallbackHandler(token_limit=60)
    # run i: two calls of 11 * (i + 1) tokens each; runs 2.. cross 60 tokens after the first or second call
    models = [
        ScriptedChatModel(responses=[answer("x", input_tokens=10 * (i + 1), output_tokens=i + 1)] * 2) for i in range(8)
    ]
    run_ids = [uuid.uuid4() for _ in range(8)]
    results = await asyncio.gather(
        *(
            two_calls(m).ainvoke([HumanMessage("go")], {"callbacks": [handler], "run_id": r})
            for m, r in zip(models, run_ids, strict=True)
        ),
        return_exceptions=True,
    )
    for i, (result, model, run_id) in enumerate(zip(results, models, run_ids, strict=True)):
        per_call = 11 * (i + 1)
        guard = handler.budget_for(run_id)
        assert guard is not None
        if per_call >= 60:  # crossed by the first call: the second is refused
            assert isinstance(result, BudgetExceededError) and model.calls == 1 and guard.tokens_used == per_call
        else:
            assert result == "x" and model.calls == 2 and guard.tokens_used == 2 * per_call


def test_model_name_falls_back_to_ls_model_name() -> None:
    class Nameless(ScriptedChatModel):
        def _take(self, messages: Any) -> AIMessage:
            message = super()._take(messages)
            meta = {k: v for k, v in message.response_metadata.items() if k != "model_name"}
            return message.model_copy(update={"response_metadata": meta})

    handler = ActGuardCallbackHandler()
    chain_of(Nameless(responses=[detailed()], model_name="gpt-4o-mini")).invoke(
        {"question": "q"}, {"callbacks": [handler]}
    )
    assert handler.last_budget is not None and list(handler.last_budget.usage_by_model) == ["gpt-4o-mini"]


class CompletionLLM(LLM):
    """A completion-style LLM reporting OpenAI-style token_usage in llm_output."""

    @property
    def _llm_type(self) -> str:
        return "completion-test"

    def _call(self, prompt: str, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> str:
        raise NotImplementedError

    def _generate(self, prompts: list[str], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> LLMResult:
        return LLMResult(
            generations=[[Generation(text="ok")] for _ in prompts],
            llm_output={"token_usage": {"prompt_tokens": 70, "completion_tokens": 30}, "model_name": MODEL},
        )


def test_completion_llms_are_metered_and_stopped() -> None:
    handler = ActGuardCallbackHandler(token_limit=100)
    llm = CompletionLLM()
    chain = llm | RunnableLambda(lambda text: f"again: {text}") | llm
    with pytest.raises(BudgetExceededError):
        chain.invoke("hi", {"callbacks": [handler]})
    assert handler.last_budget is not None and handler.last_budget.tokens_used == 100


def test_tool_loop_stops_mid_run_and_tools_see_the_run() -> None:
    calls: list[str] = []

    def search(query: str) -> str:
        """Search."""
        calls.append(query)
        return f"result for {query}"

    from contract import ToolSpec

    model = ScriptedChatModel(
        responses=[tool_call("search", {"query": f"q{i}"}, input_tokens=400, output_tokens=100) for i in range(4)]
    )
    handler = ActGuardCallbackHandler(token_limit=1000)
    with pytest.raises(BudgetExceededError):
        tool_loop(model, [lc_tool(ToolSpec(search))]).invoke([HumanMessage("go")], {"callbacks": [handler]})
    assert model.calls == 2 and calls == ["q0", "q1"]


def test_finished_budgets_are_bounded() -> None:
    handler = ActGuardCallbackHandler(max_runs=2)
    model = ScriptedChatModel(responses=[big()] * 3)
    ids = [uuid.uuid4() for _ in range(3)]
    for run_id in ids:
        chain_of(model).invoke({"question": "q"}, {"callbacks": [handler], "run_id": run_id})
    assert handler.budget_for(ids[0]) is None
    assert [handler.budget_for(i) is not None for i in ids[1:]] == [True, True]
    assert handler.runs.live_runs == 0


@pytest.mark.parametrize(
    "kwargs",
    [{"usd_limit": -1}, {"token_limit": 1.5}, {"user_id": 3}, {"max_runs": 0}, {"max_runs": True}],
    ids=str,
)
def test_bad_arguments_fail_at_construction(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        ActGuardCallbackHandler(**kwargs)


def test_a_refusal_is_not_also_logged_as_a_callback_error(caplog: pytest.LogCaptureFixture) -> None:
    model = ScriptedChatModel(responses=[big(), "never"])
    with pytest.raises(BudgetExceededError):
        two_calls(model).invoke([HumanMessage("start")], {"callbacks": [ActGuardCallbackHandler(token_limit=1000)]})
    assert not [r for r in caplog.records if "ActGuardCallbackHandler" in r.getMessage()]


SEEN: list[BudgetGuard | None] = []


class Watching(ScriptedChatModel):
    """Records the BudgetGuard current while the model runs (where actguard's SDK meters would record)."""

    def _take(self, messages: Any) -> AIMessage:
        SEEN.append(actguard.current_budget())
        return super()._take(messages)


@pytest.mark.parametrize("mode", ["invoke", "stream", "ainvoke", "astream"])
async def test_during_a_model_call_sdk_meters_record_into_a_scope_of_the_callers_guard(mode: str) -> None:
    SEEN.clear()
    handler = ActGuardCallbackHandler()
    chain = chain_of(Watching(responses=[detailed()]))
    config: Any = {"callbacks": [handler]}
    with BudgetGuard(user_id="dora") as outer:
        if mode == "invoke":
            chain.invoke({"question": "q"}, config)
        elif mode == "stream":
            list(chain.stream({"question": "q"}, config))
        elif mode == "ainvoke":
            await chain.ainvoke({"question": "q"}, config)
        else:
            [c async for c in chain.astream({"question": "q"}, config)]
        assert actguard.current_budget() is outer  # the scope is left after the call
    [scope] = SEEN
    assert scope is not None and scope is not outer and scope.parent is outer
    assert outer.tokens_used == 1300 and outer.usage.calls == 1
    assert_metered(handler.last_budget)
