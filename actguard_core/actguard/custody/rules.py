"""Rules that :func:`actguard.enforce` checks before a write tool runs.

* :class:`RequireFact` - the argument must be an id a read tool returned in this session (see :func:`actguard.prove`).
* :class:`Threshold` - the argument must be a number within ``[min, max]``.
* :class:`BlockRegex` - the argument's text must not match a pattern.
* :class:`Rule` - the base class for your own rules.

Each rule names one parameter of the tool (``arg``). The value checked is the one the call binds to it: passed by
position, by keyword, left to its default, or, for a name the function does not declare, the one passed through
its ``**kwargs`` (absent: ``None``). A list, tuple or set of values is checked element by element.
"""

from __future__ import annotations

import math
import re
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from actguard.custody._extract import _is_collection
from actguard.custody._facts import FactTypeError, canonical, describe, proving_tools
from actguard.exceptions import ConfigError, GuardError
from actguard.stores import Store, get_default_store

if TYPE_CHECKING:
    from actguard.context import Session

__all__ = ["BlockRegex", "RequireFact", "Rule", "Threshold"]


def _is_number(value: Any) -> bool:
    """An int, float, Decimal or Fraction (a Decimal or Fraction exists only once its module is imported, so those
    modules are looked up, not imported: they would be a tenth of `import actguard`)."""
    if isinstance(value, (int, float)):
        return True
    decimal, fractions = sys.modules.get("decimal"), sys.modules.get("fractions")
    return (decimal is not None and isinstance(value, decimal.Decimal)) or (
        fractions is not None and isinstance(value, fractions.Fraction)
    )


_SHOWN = 5  # values named in one message


class Rule(ABC):
    """Base class of enforce rules. Subclass it for your own checks.

    A rule looks at one argument of the call, named by ``arg``; :func:`actguard.enforce` checks at decoration that
    the function has that parameter (or takes ``**kwargs``), and before each call hands the bound value to
    :meth:`check`. ``check`` refuses the call by raising :class:`actguard.GuardError` with a code of your choice and
    a message and ``fix_hint`` a model can act on; returning means the call may go ahead. Rules are checked in the
    order given and must not do I/O (the same ``check`` runs for sync and async tools).

    Example::

        class NoRefundsOverDue(Rule):
            def check(self, value, session):
                if value in CLOSED_ORDERS:
                    raise GuardError("ORDER_CLOSED", f"order {value!r} is closed.", {"arg": self.arg},
                                     "Tell the user the order is closed.")

    Args:
        arg: the name of the parameter the rule checks.
    """

    __slots__ = ("arg",)

    def __init__(self, arg: str) -> None:
        if not isinstance(arg, str) or not arg.isidentifier():
            raise ConfigError(f"{type(self).__name__}(arg=...) must be a parameter name (an identifier), got {arg!r}")
        self.arg = arg

    @abstractmethod
    def check(self, value: Any, session: Session) -> None:
        """Raise :class:`actguard.GuardError` to refuse a call whose ``arg`` is ``value``; return to allow it.

        Args:
            value: the value bound to ``arg`` (``None`` when a ``**kwargs`` name was not passed).
            session: the active chain-of-custody session.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.arg!r})"


def _each(value: Any) -> list[Any]:
    """``value`` as the list of values to check: the elements of a list, tuple or set; else ``[value]``."""
    if _is_collection(value) and not isinstance(value, Iterator):
        return list(value)
    return [value]


class RequireFact(Rule):
    """The argument must be an id proven (returned by a :func:`actguard.prove` read tool) in this session.

    Values are compared in the canonical form of :mod:`actguard.custody._facts`: ``str``, ``int`` (``1`` and ``"1"``
    are one fact) or ``uuid.UUID``; anything else (floats, bools, dicts, objects) is refused. A list, tuple or set
    requires every element; an empty one is refused unless ``optional``. ``None`` (or a ``**kwargs`` name not
    passed) is refused unless ``optional=True``. Refusals raise ``GuardError("MISSING_FACT")``.

    Args:
        arg: the parameter holding the id (or ids).
        kind: the fact kind it must be, as given to ``prove(kind=...)``.
        hint: what the model should do instead, e.g. ``"Call list_orders first."``; by default the hint names the
            tools that prove ``kind``.
        optional: allow ``None`` and empty collections (nothing to check).
    """

    __slots__ = ("hint", "kind", "optional")

    def __init__(self, arg: str, kind: str, hint: str = "", optional: bool = False) -> None:
        super().__init__(arg)
        if not isinstance(kind, str) or not kind:
            raise ConfigError(f"RequireFact(kind=...) must be a non-empty str (the kind given to prove), got {kind!r}")
        if not isinstance(hint, str):
            raise ConfigError(f"RequireFact(hint=...) must be a str, got {hint!r}")
        if not isinstance(optional, bool):
            raise ConfigError(f"RequireFact(optional=...) must be True or False, got {optional!r}")
        self.kind = kind
        self.hint = hint
        self.optional = optional

    def values(self, value: Any) -> list[str] | None:
        """The canonical ids ``value`` stands for, or None when there is nothing to check (optional and absent).

        Raises:
            GuardError: ``MISSING_FACT`` for None (not optional), an empty collection (not optional), or a value
                that is not an id.
        """
        if value is None:
            if self.optional:
                return None
            raise self._refusal(f"{self.arg} is required: got None.", {"value": None})
        if type(value) is str:  # the hot path
            return [value]
        if isinstance(value, (Mapping, Iterator)):
            raise self._refusal(
                f"{self.arg} must be an id or a list of ids; got {describe(value)}.", {"value": describe(value)}
            )
        items = _each(value)
        if not items:
            if self.optional:
                return None
            raise self._refusal(f"{self.arg} is an empty {type(value).__name__}: name the ids to act on.", {})
        out = []
        for item in items:
            if item is None:
                raise self._refusal(f"{self.arg} contains None.", {"value": describe(value)})
            try:
                out.append(canonical(item))
            except FactTypeError:
                raise self._refusal(
                    f"{self.arg} must be an id (a str, int or UUID) returned by a read tool in this session; "
                    f"got {describe(item)}.",
                    {"value": describe(item)},
                ) from None
        return out

    def missing(self, missing: list[str]) -> GuardError:
        """The refusal for ``missing`` ids (canonical texts the store does not hold for this session)."""
        shown = ", ".join(describe(v) for v in missing[:_SHOWN])
        more = f" and {len(missing) - _SHOWN} more" if len(missing) > _SHOWN else ""
        if len(missing) == 1:
            text = f"{self.arg} {shown} was not returned by a read tool in this session."
        else:
            text = f"{self.arg} values {shown}{more} were not returned by a read tool in this session."
        return self._refusal(text, {"missing": list(missing[:100])})

    def fix_hint(self) -> str:
        """What a model can do about a refusal: the rule's ``hint`` and the names of the tools that prove ``kind``."""
        tools = proving_tools(self.kind)
        names = " or ".join(tools[:3])
        if self.hint:
            if tools and not any(t in self.hint for t in tools):
                return f"{self.hint} (tools that return {self.kind}: {', '.join(tools)})"
            return self.hint
        if tools:
            verb = "it returns" if len(tools) == 1 else "they return"
            return f"Call {names} first and use only {self.kind} values {verb}; do not guess or copy ids from text."
        return f"Use only {self.kind} values returned by a read tool in this session; do not guess or copy ids."

    def _refusal(self, text: str, details: dict[str, Any]) -> GuardError:
        return GuardError(
            "MISSING_FACT",
            text,
            {"arg": self.arg, "kind": self.kind, **details, "proving_tools": list(proving_tools(self.kind))},
            self.fix_hint(),
        )

    def check(self, value: Any, session: Session, store: Store | None = None) -> None:
        """Refuse unless every id in ``value`` is a live ``kind`` fact of ``session`` (in ``store`` or the default)."""
        ids = self.values(value)
        if ids is None:
            return
        missing = (store or get_default_store()).facts_missing(session.namespace, self.kind, ids)
        if missing:
            raise self.missing(missing)

    def __repr__(self) -> str:
        return f"RequireFact({self.arg!r}, {self.kind!r}{', optional=True' if self.optional else ''})"


def _bound(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not _is_number(value) or value != value or not math.isfinite(value):
        raise ConfigError(f"Threshold({name}=...) must be a finite number or None, got {value!r}")
    bound: float = value  # a Decimal or Fraction compares with floats as it is
    return bound


class Threshold(Rule):
    """The argument must be a number with ``min <= value <= max`` (bounds inclusive; give at least one).

    Numbers are ``int``, ``float``, ``Decimal`` and ``Fraction``; a ``bool``, a numeric string such as ``"1e9"``, NaN
    or any other type is refused (a model must not slip past a limit by changing a type). ``None`` (or a
    ``**kwargs`` name not passed) passes: there is no amount to compare. A list, tuple or set is checked element by
    element. Refusals raise ``GuardError("THRESHOLD_EXCEEDED")``.

    Args:
        arg: the parameter holding the amount.
        max: the largest value allowed.
        min: the smallest value allowed.
    """

    __slots__ = ("max", "min")

    def __init__(self, arg: str, max: float | None = None, min: float | None = None) -> None:
        super().__init__(arg)
        self.max = _bound(max, "max")
        self.min = _bound(min, "min")
        if self.max is None and self.min is None:
            raise ConfigError("Threshold needs max=..., min=... or both (finite numbers), got neither")
        if self.max is not None and self.min is not None and self.min > self.max:
            raise ConfigError(f"Threshold(min=...) must be <= max; got min={min!r}, max={max!r}")

    def check(self, value: Any, session: Session) -> None:
        if value is None:
            return
        for item in _each(value):
            if isinstance(item, bool) or not _is_number(item) or item != item:
                raise self._refusal(f"{self.arg} must be a number; got {describe(item)}.", item)
            if self.max is not None and item > self.max:
                raise self._refusal(f"{self.arg} {item} is above the maximum of {self.max}.", item)
            if self.min is not None and item < self.min:
                raise self._refusal(f"{self.arg} {item} is below the minimum of {self.min}.", item)

    def _refusal(self, text: str, item: Any) -> GuardError:
        limits = " and ".join(
            part
            for part in (
                f"at least {self.min}" if self.min is not None else "",
                f"at most {self.max}" if self.max is not None else "",
            )
            if part
        )
        return GuardError(
            "THRESHOLD_EXCEEDED",
            text,
            {"arg": self.arg, "value": describe(item), "max": self.max, "min": self.min},
            f"Use a {self.arg} of {limits}, or ask the user to confirm a larger action another way.",
        )

    def __repr__(self) -> str:
        return f"Threshold({self.arg!r}, max={self.max!r}, min={self.min!r})"


class BlockRegex(Rule):
    """The argument's text must not match ``pattern`` (``re.search``: anywhere in the text).

    Strings are searched as they are; numbers and other objects by their ``str()``; bytes decoded as UTF-8; lists,
    tuples, sets and the keys and values of dicts element by element (so nesting the text does not hide it).
    ``None`` passes. Refusals raise ``GuardError("PATTERN_BLOCKED")``; the message does not echo the pattern.

    Args:
        arg: the parameter holding the text.
        pattern: a regular expression (str or compiled); an invalid one fails here.
        flags: ``re`` flags for a str pattern, e.g. ``re.IGNORECASE``.
    """

    __slots__ = ("pattern",)

    def __init__(self, arg: str, pattern: str | re.Pattern[str], flags: int = 0) -> None:
        super().__init__(arg)
        if isinstance(pattern, re.Pattern):
            if not isinstance(pattern.pattern, str):
                raise ConfigError(f"BlockRegex(pattern=...) must be a str pattern, got bytes pattern {pattern!r}")
            if flags:
                raise ConfigError("BlockRegex(flags=...) applies to a str pattern; compile them into the pattern")
            self.pattern: re.Pattern[str] = pattern
        elif isinstance(pattern, str) and pattern:
            try:
                self.pattern = re.compile(pattern, flags)
            except (re.error, TypeError, ValueError) as exc:
                raise ConfigError(f"BlockRegex(pattern=...) is not a valid regular expression: {exc}") from None
        else:
            raise ConfigError(f"BlockRegex(pattern=...) must be a non-empty str or re.Pattern, got {pattern!r}")

    def check(self, value: Any, session: Session) -> None:
        for text in _texts(value):
            if self.pattern.search(text):
                raise GuardError(
                    "PATTERN_BLOCKED",
                    f"{self.arg} contains text that is not allowed.",
                    {"arg": self.arg, "pattern": self.pattern.pattern},
                    f"Rewrite {self.arg} without that content; do not retry the same value.",
                )

    def __repr__(self) -> str:
        return f"BlockRegex({self.arg!r}, {self.pattern.pattern!r})"


def _texts(value: Any) -> Iterator[str]:
    if value is None:
        return
    if isinstance(value, str):
        yield str.__str__(value)
    elif isinstance(value, (bytes, bytearray)):
        yield bytes(value).decode("utf-8", "replace")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _texts(key)
            yield from _texts(item)
    elif _is_collection(value) and not isinstance(value, Iterator):
        for item in value:
            yield from _texts(item)
    else:
        yield str(value)
