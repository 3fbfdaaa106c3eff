"""A shared guard's reservation is settled by its call's record even when the framework ran the before-call hook in
a copied context (openai-agents runs RunHooks.on_llm_start under asyncio.gather), and handed back at guard exit."""

from __future__ import annotations

import asyncio
import contextvars

import actguard
from actguard import BudgetGuard, LLMUsage


def usage(output: int, prompt: int = 100) -> LLMUsage:
    return LLMUsage(model="gpt-4o", provider="openai", input_tokens=prompt, output_tokens=output)


def test_a_reservation_taken_in_a_copied_context_is_settled_by_the_record() -> None:
    store = actguard.MemoryStore()
    guard = BudgetGuard(user_id="u", token_limit=10_000, shared=True, store=store)

    async def run() -> None:
        for n in range(3):  # each call: reserve in a child task (as gather does), record in the run's own task
            await asyncio.gather(asyncio.create_task(_reserve(guard)))
            guard.record(usage(50), call_id=f"c{n}")

    asyncio.run(run())
    assert guard.shared_usage().tokens == 3 * 150  # settled to the metered cost: nothing still held
    held = store.spend_reserve(
        "actguard:budget::u", "probe", 0.0, 10_000 - 450, usd_limit=None, token_limit=10_000, ttl=None, lease=60
    )
    assert held.granted


def test_guard_exit_hands_back_reservations_of_calls_never_recorded() -> None:
    store = actguard.MemoryStore()
    with BudgetGuard(user_id="u", token_limit=1_000, shared=True, store=store) as guard:
        contextvars.copy_context().run(
            guard.check_call, "gpt-4o", provider="openai", prompt_tokens=100, max_output_tokens=800
        )  # reserved in a copy: this context never learns of it
    probe = store.spend_reserve(
        "actguard:budget::u", "probe", 0.0, 1_000, usd_limit=None, token_limit=1_000, ttl=None, lease=60
    )
    assert probe.granted and guard.shared_usage().tokens == 0


async def _reserve(guard: BudgetGuard) -> None:
    guard.check_call("gpt-4o", provider="openai", prompt_tokens=100, max_output_tokens=200)
