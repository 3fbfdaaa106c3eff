"""enforce: rules checked before a write tool runs."""

from __future__ import annotations

import inspect
import re
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

import actguard
from actguard import BlockRegex, GuardError, MemoryStore, RequireFact, Rule, Session, Threshold, enforce, prove
from actguard.testing import capture_events


@pytest.fixture
def orders(store: MemoryStore) -> Any:
    """A read tool proving order ids o1, o2 and 3 (an int)."""

    @prove(kind="order_id", extract="id")
    def list_orders(user_id: str) -> list[dict[str, Any]]:
        return [{"id": "o1"}, {"id": "o2"}, {"id": 3}]

    return list_orders


def session() -> Session:
    return actguard.session("s1", {"user_id": "alice"})


def code_of(fn: Any, *args: Any, **kwargs: Any) -> str | None:
    try:
        fn(*args, **kwargs)
    except GuardError as exc:
        return exc.code
    return None


def test_require_fact_by_position_keyword_and_default(orders: Any) -> None:
    ran: list[str] = []

    @enforce([RequireFact("order_id", "order_id")])
    def cancel(reason: str, order_id: str = "o1") -> str:
        ran.append(order_id)
        return order_id

    with session():
        assert code_of(cancel, "x", "o1") == "MISSING_FACT"  # nothing proven yet
        orders("alice")
        assert cancel("x", "o1") == "o1"
        assert cancel("x", order_id="o2") == "o2"
        assert cancel("x") == "o1"
        assert code_of(cancel, "x", "o9") == "MISSING_FACT"
        assert code_of(cancel, "x", order_id="o9") == "MISSING_FACT"
    assert ran == ["o1", "o2", "o1"]


def test_a_list_requires_every_element(orders: Any) -> None:
    @enforce([RequireFact("order_ids", "order_id")])
    def cancel_many(order_ids: list[str]) -> int:
        return len(order_ids)

    with session():
        orders("alice")
        assert cancel_many(["o1", "o2", 3]) == 3
        assert cancel_many(("o1",)) == 1
        assert cancel_many({"o2"}) == 1
        with pytest.raises(GuardError) as info:
            cancel_many(["o1", "o9", "o8"])
        assert info.value.details["missing"] == ["o9", "o8"]
        assert "'o9', 'o8' were not returned" in info.value.message
        assert code_of(cancel_many, []) == "MISSING_FACT"
        assert code_of(cancel_many, ["o1", None]) == "MISSING_FACT"


def test_none_is_refused_unless_optional(orders: Any) -> None:
    @enforce([RequireFact("order_id", "order_id")])
    def strict(order_id: str | None = None) -> str:
        return "ran"

    @enforce([RequireFact("order_id", "order_id", optional=True)])
    def lenient(order_id: str | list[str] | None = None) -> str:
        return "ran"

    with session():
        orders("alice")
        assert code_of(strict) == "MISSING_FACT"
        assert code_of(strict, None) == "MISSING_FACT"
        assert lenient() == "ran" and lenient(None) == "ran" and lenient([]) == "ran"
        assert code_of(lenient, "o9") == "MISSING_FACT"  # optional still checks a value that is given


def test_kwargs_values_are_checked(orders: Any) -> None:
    @enforce([RequireFact("order_id", "order_id"), Threshold("amount", max=100)])
    def refund(**kwargs: Any) -> str:
        return "refunded"

    with session():
        orders("alice")
        assert refund(order_id="o1", amount=10) == "refunded"
        assert refund(order_id="o1") == "refunded"  # no amount: nothing to compare
        assert code_of(refund, order_id="o9", amount=10) == "MISSING_FACT"
        assert code_of(refund, amount=10) == "MISSING_FACT"  # absent from **kwargs counts as None
        assert code_of(refund, order_id="o1", amount=1000) == "THRESHOLD_EXCEEDED"


def test_methods_are_checked_on_the_right_argument(orders: Any) -> None:
    class Api:
        @enforce([RequireFact("order_id", "order_id")])
        def cancel(self, order_id: str) -> str:
            return order_id

    with session():
        orders("alice")
        assert Api().cancel("o1") == "o1"
        assert code_of(Api().cancel, "o9") == "MISSING_FACT"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (100, None),
        (0, None),
        (99.5, None),
        (Decimal("100"), None),
        (Fraction(1, 3), None),
        (100.01, "THRESHOLD_EXCEEDED"),
        (-1, "THRESHOLD_EXCEEDED"),
        (float("nan"), "THRESHOLD_EXCEEDED"),
        (float("inf"), "THRESHOLD_EXCEEDED"),
        (Decimal("NaN"), "THRESHOLD_EXCEEDED"),
        (True, "THRESHOLD_EXCEEDED"),
        ("5", "THRESHOLD_EXCEEDED"),
        ("1e9", "THRESHOLD_EXCEEDED"),
        ([10, 20], None),
        ([10, 200], "THRESHOLD_EXCEEDED"),
        (None, None),
    ],
)
def test_threshold(store: MemoryStore, value: Any, code: str | None) -> None:
    @enforce([Threshold("amount", max=100, min=0)])
    def pay(amount: Any) -> str:
        return "paid"

    with session():
        assert code_of(pay, value) == code


def test_threshold_message_tells_the_limit(store: MemoryStore) -> None:
    @enforce(Threshold("amount", max=500))
    def pay(amount: float) -> None: ...

    with session(), pytest.raises(GuardError) as info:
        pay(900)
    assert info.value.message == "amount 900 is above the maximum of 500."
    assert "at most 500" in info.value.to_prompt()


@pytest.mark.parametrize(
    ("value", "blocked"),
    [
        ("hello", False),
        ("please DROP table", True),
        ("drop it", True),
        (["ok", "drop"], True),
        ({"note": "drop"}, True),
        ({"drop": "key"}, True),
        ([["nested", ["drop"]]], True),
        (b"drop", True),
        (12, False),
        (None, False),
    ],
)
def test_block_regex(store: MemoryStore, value: Any, blocked: bool) -> None:
    @enforce([BlockRegex("text", r"drop", re.IGNORECASE)])
    def post(text: Any) -> str:
        return "posted"

    with session():
        assert code_of(post, value) == ("PATTERN_BLOCKED" if blocked else None)


def test_block_regex_compiled_pattern_and_message(store: MemoryStore) -> None:
    @enforce([BlockRegex("to", re.compile(r"@evil\.com$"))])
    def send(to: str) -> str:
        return "sent"

    with session():
        assert send("bob@good.com") == "sent"
        with pytest.raises(GuardError) as info:
            send("x@evil.com")
    assert "evil" not in info.value.message  # the pattern is not echoed to the model
    assert info.value.details["pattern"] == r"@evil\.com$"


def test_custom_rule(store: MemoryStore) -> None:
    class BusinessHoursOnly(Rule):
        def check(self, value: Any, session: Session) -> None:
            if value not in range(9, 17):
                raise GuardError("OUT_OF_HOURS", f"{self.arg}={value} is outside 9-17.", {"arg": self.arg}, "Wait.")

    @enforce([BusinessHoursOnly("hour")])
    def schedule(hour: int) -> str:
        return "ok"

    with session():
        assert schedule(10) == "ok"
        with pytest.raises(GuardError) as info:
            schedule(20)
    assert info.value.code == "OUT_OF_HOURS" and info.value.details["tool"] == "schedule"
    assert info.value.to_prompt() == "Refused (OUT_OF_HOURS): hour=20 is outside 9-17. Wait."


def test_rules_are_checked_in_order_and_stop_at_the_first_refusal(orders: Any) -> None:
    @enforce([Threshold("amount", max=10), RequireFact("order_id", "order_id")])
    def refund(order_id: str, amount: int) -> str:
        return "ok"

    with session():
        assert code_of(refund, "o9", 100) == "THRESHOLD_EXCEEDED"
        assert code_of(refund, "o9", 1) == "MISSING_FACT"


def test_missing_fact_prompt_names_the_value_and_the_proving_tool(orders: Any) -> None:
    @enforce([RequireFact("order_id", "order_id")])
    def delete_order(order_id: str) -> str:
        return "deleted"

    @enforce([RequireFact("order_id", "order_id", hint="Ask the user which order they mean.")])
    def hinted(order_id: str) -> str:
        return "deleted"

    with session():
        with pytest.raises(GuardError) as info:
            delete_order("o9")
        prompt = info.value.to_prompt()
        assert prompt.startswith(
            "Refused (MISSING_FACT): order_id 'o9' was not returned by a read tool in this session."
        )
        assert "Call list_orders" in prompt and "first" in prompt
        assert info.value.details["tool"] == "delete_order"
        assert "list_orders" in info.value.details["proving_tools"]
        with pytest.raises(GuardError) as info:
            hinted("o9")
        assert "Ask the user which order they mean." in info.value.fix_hint
        assert "list_orders" in info.value.fix_hint


def test_long_values_are_cut_in_messages(orders: Any) -> None:
    @enforce([RequireFact("order_id", "order_id")])
    def delete_order(order_id: str) -> None: ...

    with session(), pytest.raises(GuardError) as info:
        delete_order("x" * 10_000)
    assert len(info.value.message) < 200


def test_enforce_outside_a_session_refuses_before_the_tool_runs(store: MemoryStore) -> None:
    ran = []

    @enforce([Threshold("amount", max=10)])
    def pay(amount: int) -> None:
        ran.append(amount)

    with pytest.raises(GuardError) as info:
        pay(1)
    assert info.value.code == "NO_SESSION" and ran == []


def test_every_decision_is_reported(orders: Any) -> None:
    @enforce([RequireFact("order_id", "order_id")])
    def delete_order(order_id: str) -> None: ...

    with capture_events() as events:
        with session():
            orders("alice")
            delete_order("o1")
            with pytest.raises(GuardError):
                delete_order("o9")
        with pytest.raises(GuardError):
            delete_order("o1")
    got = [(e["name"], e["outcome"], e["tool"], e["payload"].get("code")) for e in events.of(category="custody")]
    assert got == [
        ("prove", "recorded", "list_orders", None),
        ("enforce", "allowed", "delete_order", None),
        ("enforce", "blocked", "delete_order", "MISSING_FACT"),
        ("enforce", "blocked", "delete_order", "NO_SESSION"),
    ]
    assert events.of(category="custody")[2]["user_id"] == "alice"


async def test_async_write_tool(orders: Any) -> None:
    @enforce([RequireFact("order_id", "order_id")])
    async def delete_order(order_id: str) -> str:
        """Delete an order."""
        return f"deleted:{order_id}"

    @prove(kind="order_id", extract="id")
    async def alist(user_id: str) -> list[dict[str, str]]:
        return [{"id": "a1"}]

    assert inspect.iscoroutinefunction(delete_order) and delete_order.__doc__ == "Delete an order."
    async with session():
        await alist("alice")
        assert await delete_order("a1") == "deleted:a1"
        with pytest.raises(GuardError, match="MISSING_FACT"):
            await delete_order("o9")
    with pytest.raises(GuardError, match="NO_SESSION"):
        await delete_order("a1")


def test_signature_name_and_doc_are_kept() -> None:
    def refund(order_id: str, amount: float, *, note: str = "") -> str:
        """Refund an order."""
        return ""

    wrapped = enforce([RequireFact("order_id", "order_id"), Threshold("amount", max=1)])(refund)
    assert (wrapped.__name__, wrapped.__doc__) == ("refund", "Refund an order.")
    assert inspect.signature(wrapped) == inspect.signature(refund)


def test_a_rule_naming_an_unknown_parameter_fails_at_decoration() -> None:
    def refund(order_id: str) -> None: ...

    with pytest.raises(actguard.ConfigError, match=r"order_id.*got 'orderid'"):
        enforce([RequireFact("orderid", "order_id")])(refund)

    def variadic(*args: Any) -> None: ...

    with pytest.raises(actguard.ConfigError, match="args"):
        enforce([RequireFact("args", "order_id")])(variadic)

    def with_kwargs(**kwargs: Any) -> None: ...

    enforce([RequireFact("anything", "order_id")])(with_kwargs)  # **kwargs may carry it


@pytest.mark.parametrize(
    ("make", "named"),
    [
        (lambda: enforce([]), "rules"),
        (lambda: enforce("order_id"), "rules"),
        (lambda: enforce([RequireFact("a", "k"), "b"]), "rules"),
        (lambda: enforce([RequireFact("a", "k")], store="memory"), "store"),
        (lambda: RequireFact("a b", "k"), "arg"),
        (lambda: RequireFact("a", ""), "kind"),
        (lambda: RequireFact("a", "k", hint=None), "hint"),
        (lambda: RequireFact("a", "k", optional="yes"), "optional"),
        (lambda: Threshold("a"), "max"),
        (lambda: Threshold("a", max="10"), "max"),
        (lambda: Threshold("a", max=float("nan")), "max"),
        (lambda: Threshold("a", min=True), "min"),
        (lambda: Threshold("a", max=1, min=2), "min"),
        (lambda: BlockRegex("a", "("), "pattern"),
        (lambda: BlockRegex("a", ""), "pattern"),
        (lambda: BlockRegex("a", re.compile(b"x")), "pattern"),
        (lambda: BlockRegex("a", re.compile("x"), re.I), "flags"),
    ],
)
def test_bad_arguments_fail_at_construction(make: Any, named: str) -> None:
    with pytest.raises(actguard.ConfigError, match=named):
        make()


def test_bare_use_fails_with_a_config_error() -> None:
    def f(order_id: str) -> None: ...

    with pytest.raises(actguard.ConfigError, match="needs its rules"):
        enforce(f)  # type: ignore[arg-type]
