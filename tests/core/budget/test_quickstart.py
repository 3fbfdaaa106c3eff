# ruff: noqa: I001, SIM117, F841  (the quickstart examples are copied verbatim)
"""The quickstart's budget examples, run as written against the real OpenAI SDK and a loopback server."""

from __future__ import annotations

import asyncio

import pytest
from budget_fakes import LLMServer, chat_completion, chat_stream


def test_set_a_usd_limit_within_budget(llm: LLMServer, capsys: pytest.CaptureFixture[str]) -> None:
    llm.queue(chat_completion(content="Rome rose and fell.", prompt_tokens=1000, completion_tokens=200))
    # --- quickstart "Set a USD limit", as written ---
    from actguard import BudgetExceededError, BudgetGuard
    import openai

    client = openai.OpenAI()

    try:
        with BudgetGuard(user_id="alice", usd_limit=0.05) as guard:
            response = client.chat.completions.create(
                model="gpt-4o",
                messages=[{"role": "user", "content": "Summarise the history of Rome."}],
            )
            print(response.choices[0].message.content)
    except BudgetExceededError as e:
        print(f"Budget hit: {e}")
    finally:
        print(f"Spent ${guard.usd_used:.6f} using {guard.tokens_used} tokens")
    # ---
    out = capsys.readouterr().out
    # gpt-4o: $2.50 per million input tokens, $10 per million output tokens
    assert out == "Rome rose and fell.\nSpent $0.004500 using 1200 tokens\n"


def test_set_a_usd_limit_crossed(llm: LLMServer, capsys: pytest.CaptureFixture[str]) -> None:
    llm.queue(chat_completion(prompt_tokens=10_000, completion_tokens=5_000))  # $0.025 + $0.05
    from actguard import BudgetExceededError, BudgetGuard
    import openai

    client = openai.OpenAI()

    try:
        with BudgetGuard(user_id="alice", usd_limit=0.05) as guard:
            response = client.chat.completions.create(
                model="gpt-4o",
                messages=[{"role": "user", "content": "Summarise the history of Rome."}],
            )
            print(response.choices[0].message.content)
    except BudgetExceededError as e:
        print(f"Budget hit: {e}")
        assert e.response.choices[0].message.content == "Rome was founded in 753 BC."
    finally:
        print(f"Spent ${guard.usd_used:.6f} using {guard.tokens_used} tokens")
    out = capsys.readouterr().out
    assert out == (
        "Budget hit: budget exceeded for user 'alice': used $0.075000 of $0.050000\n"
        "Spent $0.075000 using 15000 tokens\n"
    )


def test_set_a_token_limit(llm: LLMServer) -> None:
    from actguard import BudgetExceededError, BudgetGuard
    import openai

    with BudgetGuard(user_id="bob", token_limit=1_000) as guard:
        ...
    assert guard.tokens_used == 0

    client = openai.OpenAI()
    llm.queue(chat_completion(id="c1", prompt_tokens=600, completion_tokens=100))
    llm.queue(chat_completion(id="c2", prompt_tokens=600, completion_tokens=100))
    with pytest.raises(BudgetExceededError) as info:
        with BudgetGuard(user_id="bob", token_limit=1_000) as guard:
            for _ in range(3):
                client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert info.value.limit_type == "token"
    assert (info.value.limit, info.value.used) == (1000, 1400)
    assert "used 1400 of 1000 tokens" in str(info.value)
    assert len(llm.requests) == 2  # the third call was never sent


def test_set_both_limits(llm: LLMServer) -> None:
    from actguard import BudgetExceededError, BudgetGuard
    import openai

    with BudgetGuard(user_id="carol", token_limit=5_000, usd_limit=0.10) as guard:
        ...
    assert guard.usd_used == 0

    client = openai.OpenAI()
    # the usd limit is hit first: 2000 tokens of o1 ($60 per million output tokens) cost $0.12
    llm.queue(chat_completion(id="c1", model="o1-2024-12-17", prompt_tokens=0, completion_tokens=1_000))
    llm.queue(chat_completion(id="c2", model="o1-2024-12-17", prompt_tokens=0, completion_tokens=1_000))
    with pytest.raises(BudgetExceededError) as info:
        with BudgetGuard(user_id="carol", token_limit=5_000, usd_limit=0.10) as guard:
            client.chat.completions.create(model="o1", messages=[{"role": "user", "content": "hi"}])
            client.chat.completions.create(model="o1", messages=[{"role": "user", "content": "hi"}])
    assert guard.tokens_used == 2_000
    assert info.value.limit_type == "usd"
    assert info.value.user_id == "carol"
    # the token limit is hit first: 6000 tokens for $0.015
    llm.queue(chat_completion(prompt_tokens=6_000, completion_tokens=0))
    with pytest.raises(BudgetExceededError) as info:
        with BudgetGuard(user_id="carol", token_limit=5_000, usd_limit=0.10) as guard:
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert info.value.limit_type == "token"


def test_async_usage(llm: LLMServer, capsys: pytest.CaptureFixture[str]) -> None:
    llm.queue(chat_completion(prompt_tokens=20, completion_tokens=10))
    # --- quickstart "Async usage", as written ---
    import asyncio
    import openai
    from actguard import BudgetGuard

    async def main():
        client = openai.AsyncOpenAI()
        async with BudgetGuard(user_id="dave", usd_limit=0.10) as guard:
            response = await client.chat.completions.create(
                model="gpt-4o",
                messages=[{"role": "user", "content": "Hello!"}],
            )
        print(f"Used ${guard.usd_used:.4f}")

    asyncio.run(main())
    # ---
    assert capsys.readouterr().out == "Used $0.0001\n"
    assert llm.requests[-1].body["messages"] == [{"role": "user", "content": "Hello!"}]


def test_streaming(llm: LLMServer, capsys: pytest.CaptureFixture[str]) -> None:
    llm.queue(chat_stream(["Once ", "upon ", "a time."], prompt_tokens=1000, completion_tokens=3000))
    from actguard import BudgetGuard
    import openai

    client = openai.OpenAI()
    # --- quickstart "Streaming", as written ---
    with BudgetGuard(user_id="eve", usd_limit=0.10) as guard:
        stream = client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "Tell me a story."}],
            stream=True,
        )
        for chunk in stream:
            if chunk.choices[0].delta.content:
                print(chunk.choices[0].delta.content, end="", flush=True)

    print(f"\nUsed ${guard.usd_used:.4f}")
    # ---
    assert capsys.readouterr().out == "Once upon a time.\nUsed $0.0325\n"
    assert llm.requests[-1].body["stream_options"] == {"include_usage": True}


def test_async_main_runs_in_its_own_loop() -> None:
    # asyncio.run in the example above must not leak a running loop into later tests
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
