"""The identity of one tool call: the tool plus its arguments, however they were passed.

``f(1, b=2)``, ``f(a=1, b=2)`` and ``f(1)`` (when ``b`` defaults to 2) are the same call; so are two calls whose dict
arguments list their keys in different orders. Binding arguments to parameters is done by Python itself, through a
function with the tool's parameters generated once at decoration (``fingerprinters``), never by ``inspect`` per call.

Values are compared by content: strings, numbers, ``None``, lists/tuples, dicts, sets and pydantic models
(``model_dump()``) exactly; anything else by type and ``repr`` (an object whose ``repr`` shows only its address is
never the same as another call's, so it can only be missed as a repeat, never mistaken for one).

A fingerprint is ``"<tool name>\\x1f<tool id>\\x1f<arguments>"``: the arguments' canonical text when it is short, else a
128-bit BLAKE2b digest of it (so a store never holds long argument values).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import TYPE_CHECKING, Any

# hashlib's own BLAKE2b, without the OpenSSL bindings (_hashlib, 2-3 ms) that `import hashlib` loads as well
try:
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - a Python built without its bundled BLAKE2
    from hashlib import blake2b

if TYPE_CHECKING:  # inspect is imported by the decorators that hand over a signature, not with actguard
    import inspect

__all__ = ["CallKeyer", "Fingerprinter", "canonical", "fingerprinter", "fingerprinters", "tool_name_of"]

Fingerprinter = Callable[..., str]  # called with the tool call's own arguments
CallKeyer = Callable[..., Hashable]

_PLAIN = frozenset({str, int, float, bool, type(None)})
_SHORT = 64  # argument texts up to this length are kept as they are; longer ones are digested


def canonical(value: Any) -> str:
    """A text equal for equal argument values, whatever the dict key order or sequence type."""
    cls = type(value)
    if cls in _PLAIN:
        return repr(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(sorted(f"{canonical(k)}:{canonical(v)}" for k, v in value.items())) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join([canonical(v) for v in value]) + "]"
    if isinstance(value, (set, frozenset)):
        return "{" + ",".join(sorted(canonical(v) for v in value)) + "}"
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return f"{cls.__qualname__}{canonical(dump())}"
        except Exception:
            pass
    return f"{cls.__module__}.{cls.__qualname__}:{value!r}"


def tool_name_of(fingerprint: Hashable) -> str:
    """The tool name a fingerprint (or a call key of :func:`fingerprinters`) starts with."""
    head = fingerprint if isinstance(fingerprint, str) else fingerprint[0]  # type: ignore[index]
    return str(head).partition("\x1f")[0]


def fingerprinter(signature: inspect.Signature, name: str, ident: str) -> Fingerprinter:
    """Return ``fingerprint(args, kwargs)`` naming the call of tool ``name`` (identity ``ident``) with those arguments.

    A call that does not fit the signature raises the ``TypeError`` Python would raise for it.
    """
    return fingerprinters(signature, name, ident)[0]


def fingerprinters(signature: inspect.Signature, name: str, ident: str) -> tuple[Fingerprinter, CallKeyer]:
    """Return ``(fingerprint, call_key)`` for the calls of tool ``name`` (identity ``ident``).

    ``fingerprint(args, kwargs)`` is the text a shared store keeps. ``call_key(args, kwargs)`` is the cheaper
    in-process key: the same text in general, but for a call whose arguments are all ``str`` (up to 64 characters),
    ``int``, ``bool`` or ``None`` (the common case), a tuple of the tool's head and the bound values, with their types
    when a ``bool`` is among them (``True == 1`` in a tuple, never in a fingerprint). Two calls have equal keys exactly
    when they have equal fingerprints (a tuple never equals a text), so a MemoryStore decides as a shared store would.
    ``float`` takes the text path: ``-0.0 == 0.0`` and ``nan != nan`` as values, not as text.

    A call that does not fit the signature raises the ``TypeError`` Python would raise for it.
    """
    params = list(signature.parameters.values())
    head = f"{name}\x1f{blake2b(ident.encode(), digest_size=6).hexdigest()}\x1f"

    def text(values: tuple[Any, ...]) -> str:
        for value in values:
            if type(value) not in _PLAIN:
                text = canonical(values)  # starts with "[": never equal to a tuple's repr, which starts with "("
                break
        else:
            text = repr(values)
        if len(text) <= _SHORT:
            return head + text
        return head + blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()

    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name.startswith("_ag_") for p in params):

        def by_binding(*args: Any, **kwargs: Any) -> str:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            return text((canonical(bound.arguments),))

        return by_binding, by_binding

    space = {"_ag_text": text, "_ag_head": head, "_ag_short": _SHORT}
    names = [p.name for p in params]
    values = "".join(f"{n}, " for n in names)
    # The key: (head, *values), or (head, *values, *their types) when a bool is among them; a text when a value
    # is of another type or a long str. Checks are unrolled per parameter: no loop, one tuple.
    checks = "".join(
        f"""
_ag_type = type({n})
if _ag_type is str:
    if len({n}) > _ag_short:
        return _ag_text(({values}))
elif _ag_type is bool:
    _ag_typed = True
elif _ag_type is not int and {n} is not None:
    return _ag_text(({values}))"""
        for n in names
    )
    typed = "".join(f"type({n}), " for n in names)
    key_body = (
        f"_ag_typed = False{checks}\nif _ag_typed:\n    return (_ag_head, {values}{typed})\nreturn (_ag_head, {values})"
    )
    return _planned(name, params, f"return _ag_text(({values}))", space), _planned(name, params, key_body, space)


def _planned(name: str, params: list[inspect.Parameter], body: str, space: dict[str, Any]) -> Callable[..., Any]:
    """A function taking the tool's arguments (as its parameters' names) that runs ``body``.

    Python binds them itself: the function is generated here once with the tool's parameters (names, kinds, the
    same default objects), so a call costs one C-level binding, and a call that does not fit raises Python's own
    ``TypeError`` for it. Names the body uses start with ``_ag_`` (a tool with such a parameter is bound by
    ``inspect`` instead).
    """
    space = dict(space)
    out: list[str] = []
    for index, p in enumerate(params):
        if p.kind is p.KEYWORD_ONLY and "*" not in out:
            out.append("*")
        if p.default is p.empty:
            out.append(p.name)
        else:
            space[f"_ag_default_{index}"] = p.default
            out.append(f"{p.name}=_ag_default_{index}")
        if p.kind is p.POSITIONAL_ONLY and (
            index + 1 == len(params) or params[index + 1].kind is not p.POSITIONAL_ONLY
        ):
            out.append("/")
    lines = "".join(f"\n    {line}" for line in body.splitlines())
    source = f"def _ag_bind({', '.join(out)}):{lines}\n"
    exec(source, space)
    bind: Any = space["_ag_bind"]
    # Python's TypeError for a call that does not fit names the tool (3.10 takes the code's name, later the function's).
    bind.__code__ = bind.__code__.replace(co_name=name)
    bind.__name__ = bind.__qualname__ = name
    return bind  # type: ignore[no-any-return]
