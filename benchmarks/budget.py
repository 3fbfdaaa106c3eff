"""BudgetGuard's cost on an OpenAI call, and its metering cost against genai-prices' ``calc_price``.

Run: python benchmarks/budget.py

1. A ``client.chat.completions.create`` call over ``MockTransport`` (the transport class of the HTTP library the
   installed openai SDK uses: httpx, or httpx2 for openai >= 3) answering a realistic chat completion:
   - bare: actguard's SDK meters uninstalled (the SDK exactly as without actguard);
   - idle: meters installed, no BudgetGuard active (what every call pays once actguard is imported);
   - guarded: inside ``BudgetGuard(usd_limit=...)``: checked before, metered and checked after.
   Target: guarded / bare <= 1.05.
   The same with ``AsyncOpenAI`` (one event loop; the guard is per-process, so no store work and no thread hop).
2. Metering one call: reading the usage off the response, pricing it and charging the guard (``record``, with a new
   response id each call), against genai-prices' ``calc_price`` for the same usage (which only prices it).
   Target: 20 times faster. Also pricing alone (``actguard.prices.cost_of``) against ``calc_price``.

Best of several interleaved rounds; no event sink configured (reporting off).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from _peers import require

require("benchmarks/budget.py", {"openai": "openai"})

import openai  # noqa: E402
from genai_prices import Usage, calc_price  # noqa: E402

from actguard import BudgetGuard, prices  # noqa: E402
from actguard.budget import providers  # noqa: E402
from actguard.budget._meter import CallInfo  # noqa: E402
from actguard.budget.providers.openai import _chat_result  # noqa: E402

CALLS = 300  # calls per round
ROUNDS = 30
METER_N = 20_000

BODY = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1730000000,
        "model": "gpt-4o-2024-08-06",
        "system_fingerprint": "fp_1",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Rome was founded in 753 BC.", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 1000,
            "completion_tokens": 200,
            "total_tokens": 1200,
            "prompt_tokens_details": {"cached_tokens": 400, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        },
    }
).encode()


def _http() -> Any:
    """The HTTP library module the installed openai SDK is built on."""
    return sys.modules["httpx2"] if "httpx2" in sys.modules else __import__("httpx")


def make_client() -> openai.OpenAI:
    http = _http()

    def handler(request: Any) -> Any:
        return http.Response(200, headers={"content-type": "application/json"}, content=BODY)

    return openai.OpenAI(
        api_key="sk-bench",
        base_url="http://bench.invalid/v1",
        http_client=http.Client(transport=http.MockTransport(handler)),
    )


def call_rounds(client: openai.OpenAI) -> dict[str, float]:
    messages = [{"role": "user", "content": "Summarise the history of Rome."}]
    guard = BudgetGuard(user_id="bench", usd_limit=1e9)

    def calls() -> None:
        for _ in range(CALLS):
            client.chat.completions.create(model="gpt-4o", messages=messages)  # type: ignore[arg-type]

    def bare() -> None:
        calls()

    def idle() -> None:
        calls()

    def guarded() -> None:
        with guard:
            calls()

    setups: dict[str, Callable[[], object]] = {
        "bare": providers.uninstall,
        "idle": providers.install,
        "guarded": providers.install,
    }
    rounds = {"bare": bare, "idle": idle, "guarded": guarded}
    best = dict.fromkeys(rounds, float("inf"))
    for fn in rounds.values():  # warm up
        fn()
    for _ in range(ROUNDS):
        for name, fn in rounds.items():
            setups[name]()
            start = time.perf_counter_ns()
            fn()
            best[name] = min(best[name], (time.perf_counter_ns() - start) / CALLS / 1000)
    providers.install()
    return best


def make_async_client() -> openai.AsyncOpenAI:
    http = _http()

    async def handler(request: Any) -> Any:
        return http.Response(200, headers={"content-type": "application/json"}, content=BODY)

    return openai.AsyncOpenAI(
        api_key="sk-bench",
        base_url="http://bench.invalid/v1",
        http_client=http.AsyncClient(transport=http.MockTransport(handler)),
    )


async def async_call_rounds(client: openai.AsyncOpenAI) -> dict[str, float]:
    """bare and guarded, as in :func:`call_rounds`, awaiting ``AsyncOpenAI`` calls."""
    messages = [{"role": "user", "content": "Summarise the history of Rome."}]
    guard = BudgetGuard(user_id="bench", usd_limit=1e9)

    async def calls() -> None:
        for _ in range(CALLS):
            await client.chat.completions.create(model="gpt-4o", messages=messages)  # type: ignore[arg-type]

    async def guarded() -> None:
        async with guard:
            await calls()

    rounds = {"bare": (providers.uninstall, calls), "guarded": (providers.install, guarded)}
    best = dict.fromkeys(rounds, float("inf"))
    for _, fn in rounds.values():  # warm up
        await fn()
    for _ in range(ROUNDS):
        for name, (setup, fn) in rounds.items():
            setup()
            start = time.perf_counter_ns()
            await fn()
            best[name] = min(best[name], (time.perf_counter_ns() - start) / CALLS / 1000)
    providers.install()
    return best


def meter_rounds(client: openai.OpenAI) -> dict[str, float]:
    completion = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    info = CallInfo("openai", "gpt-4o", None, None)
    gp_usage = Usage(input_tokens=1000, cache_read_tokens=400, output_tokens=200)
    ag_usage, _ = _chat_result(completion, info)

    ids = [f"chatcmpl-{i}" for i in range(METER_N)]  # a distinct response id per call, as in real use

    def actguard_meter() -> None:
        for call_id in ids:
            usage, _ = _chat_result(completion, info)
            guard.record(usage, call_id=call_id)  # type: ignore[arg-type]

    def genai_prices() -> None:
        for _ in range(METER_N // 20):
            calc_price(gp_usage, "gpt-4o-2024-08-06", provider_id="openai")

    def actguard_price() -> None:
        for _ in range(METER_N):
            prices.cost_of(ag_usage)  # type: ignore[arg-type]

    best = {"actguard": float("inf"), "actguard-price": float("inf"), "genai-prices": float("inf")}
    for _ in range(10):
        guard = BudgetGuard(usd_limit=1e9)  # a fresh guard each round, so every call id is new
        start = time.perf_counter_ns()
        actguard_meter()
        best["actguard"] = min(best["actguard"], (time.perf_counter_ns() - start) / METER_N / 1000)
        start = time.perf_counter_ns()
        actguard_price()
        best["actguard-price"] = min(best["actguard-price"], (time.perf_counter_ns() - start) / METER_N / 1000)
        start = time.perf_counter_ns()
        genai_prices()
        best["genai-prices"] = min(best["genai-prices"], (time.perf_counter_ns() - start) / (METER_N // 20) / 1000)
    assert guard.usage.calls == METER_N
    return best


def main() -> None:
    client = make_client()
    print(f"openai {openai.__version__} over {_http().__name__}.MockTransport; {CALLS} calls x {ROUNDS} rounds")
    calls = call_rounds(client)
    for name, us in calls.items():
        print(f"  {name:8s} {us:8.1f} us/call")
    ratio = calls["guarded"] / calls["bare"]
    print(f"  guarded / bare = {ratio:.3f}  (target <= 1.05)   idle / bare = {calls['idle'] / calls['bare']:.3f}")
    acalls = asyncio.run(async_call_rounds(make_async_client()))
    print("AsyncOpenAI:")
    for name, us in acalls.items():
        print(f"  {name:8s} {us:8.1f} us/call")
    print(f"  guarded / bare = {acalls['guarded'] / acalls['bare']:.3f}  (target <= 1.05)")
    meter = meter_rounds(client)
    print("metering one call (usage off the response, price, charge the guard):")
    print(f"  actguard            {meter['actguard']:8.2f} us")
    print(f"  actguard cost_of    {meter['actguard-price']:8.2f} us (pricing only)")
    print(f"  genai-prices calc   {meter['genai-prices']:8.2f} us (pricing only)")
    print(f"  metering vs calc_price: {meter['genai-prices'] / meter['actguard']:.1f}x faster  (target >= 20x)")
    print(f"  pricing vs calc_price:  {meter['genai-prices'] / meter['actguard-price']:.1f}x faster")


if __name__ == "__main__":
    main()
