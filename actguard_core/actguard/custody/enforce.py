"""``enforce``: a write tool checks its rules (proven ids, thresholds, blocked patterns) before it runs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from actguard.context import _current_session
from actguard.custody.prove import no_session
from actguard.custody.rules import RequireFact, Rule
from actguard.exceptions import ConfigError, GuardError
from actguard.guards._signature import ArgGetter, argument_getter
from actguard.guards._wrap import ToolInfo, check_name, check_store, finish
from actguard.reporting import emit
from actguard.stores import Store, get_default_store

if TYPE_CHECKING:
    import inspect

__all__ = ["enforce"]

F = TypeVar("F", bound=Callable[..., Any])

# (get the argument, the rule, the rule when it is a RequireFact else None)
_Check = tuple[ArgGetter, Rule, "RequireFact | None"]


def enforce(rules: Sequence[Rule] | Rule, *, store: Store | None = None, name: str | None = None) -> Callable[[F], F]:
    """Decorate a write tool so that every call is checked against ``rules`` before the tool runs.

    The rules run in order, each on the value the call binds to its ``arg`` (by position, keyword, default, or
    through ``**kwargs``); the first refusal raises :class:`actguard.GuardError` and the tool does not run. A
    :class:`~actguard.RequireFact` asks the store whether its ids are live facts of the current session (one store
    call per rule). Outside any :func:`actguard.session` the call is refused with ``GuardError("NO_SESSION")``. A
    store that cannot be reached raises :class:`actguard.StoreUnavailable`: facts always fail closed.

    ``GuardError.to_prompt()`` gives text to hand back to the model as the tool's result, e.g. ``Refused
    (MISSING_FACT): order_id 'o9' was not returned by a read tool in this session. Call list_orders first ...``.

    Args:
        rules: a :class:`~actguard.Rule` or a non-empty list of them.
        store: where facts are looked up; ``None`` means the default store at call time.
        name: the tool's name in refusals and events (the name a model calls it by); ``None``: ``__name__``.

    Raises:
        ConfigError: at decoration, when ``rules`` is empty or holds something that is not a Rule, or a rule
            names a parameter the function does not have (and it takes no ``**kwargs``).
    """
    if isinstance(rules, Rule):
        rules = [rules]
    if callable(rules) and not isinstance(rules, Rule):
        raise ConfigError(
            "enforce needs its rules: use @actguard.enforce([actguard.RequireFact('order_id', 'order_id')]), "
            f"got {rules!r} as its first argument"
        )
    if not isinstance(rules, (list, tuple)) or not rules:
        raise ConfigError(f"enforce(rules=...) must be a Rule or a non-empty list of Rules, got {rules!r}")
    bad = [r for r in rules if not isinstance(r, Rule)]
    if bad:
        raise ConfigError(
            f"enforce(rules=...) accepts RequireFact, Threshold, BlockRegex or Rule subclasses, got {bad[0]!r}"
        )
    check_store(store, "enforce(store=...)")
    check_name(name, "enforce(name=...)")
    tool_name = name
    rule_list = tuple(rules)

    def decorate(fn: F) -> F:
        info = ToolInfo.of(fn, "enforce", tool_name)
        checks: tuple[_Check, ...] = tuple(
            (_getter(info.signature, rule), rule, rule if isinstance(rule, RequireFact) else None) for rule in rule_list
        )
        name = info.name
        allowed = {"rules": len(checks)}

        def refused(exc: GuardError, session_scope: dict[str, str]) -> None:
            exc.details.setdefault("tool", name)
            emit(
                "custody",
                "enforce",
                "blocked",
                tool=name,
                user_id=session_scope.get("user_id"),
                payload={"code": exc.code, **exc.details},
            )

        if info.is_async:

            async def aenforced(*args: Any, **kwargs: Any) -> Any:
                session = _current_session.get()
                if session is None:
                    emit("custody", "enforce", "blocked", tool=name, payload={"code": "NO_SESSION"})
                    raise no_session("enforce", name)
                try:
                    for get, rule, fact in checks:
                        value = get(args, kwargs)
                        if fact is None:
                            rule.check(value, session)
                            continue
                        ids = fact.values(value)
                        if ids is not None:
                            st = store or get_default_store()
                            missing = await st.afacts_missing(session.namespace, fact.kind, ids)
                            if missing:
                                raise fact.missing(missing)
                except GuardError as exc:
                    refused(exc, session.scope)
                    raise
                emit("custody", "enforce", "allowed", tool=name, user_id=session.scope.get("user_id"), payload=allowed)
                return await fn(*args, **kwargs)

            return cast(F, finish(aenforced, info))

        def enforced(*args: Any, **kwargs: Any) -> Any:
            session = _current_session.get()
            if session is None:
                emit("custody", "enforce", "blocked", tool=name, payload={"code": "NO_SESSION"})
                raise no_session("enforce", name)
            try:
                for get, rule, fact in checks:
                    value = get(args, kwargs)
                    if fact is None:
                        rule.check(value, session)
                        continue
                    ids = fact.values(value)
                    if ids is not None:
                        missing = (store or get_default_store()).facts_missing(session.namespace, fact.kind, ids)
                        if missing:
                            raise fact.missing(missing)
            except GuardError as exc:
                refused(exc, session.scope)
                raise
            emit("custody", "enforce", "allowed", tool=name, user_id=session.scope.get("user_id"), payload=allowed)
            return fn(*args, **kwargs)

        return cast(F, finish(enforced, info))

    return decorate


def _getter(sig: inspect.Signature, rule: Rule) -> ArgGetter:
    """How to find ``rule.arg`` in a call, planned once: a named parameter, else a ``**kwargs`` entry."""
    name = rule.arg
    where = f"{rule!r}: arg"
    if name in sig.parameters:
        return argument_getter(sig, name, where=where)
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):

        def from_kwargs(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            return kwargs.get(name)

        return from_kwargs
    named = [p.name for p in sig.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    raise ConfigError(
        f"{where} must name a parameter of the function, one of {named} (or any name, when it takes **kwargs); "
        f"got {name!r}"
    )
