"""The identity of one tool call: the tool plus its arguments, however they were passed.

``f(1, b=2)``, ``f(a=1, b=2)`` and ``f(1)`` (when ``b`` defaults to 2) are the same call; so are two calls whose dict
arguments list their keys in different orders. Binding arguments to parameters is done by Python itself, through a
function with the tool's parameters generated once at decoration (:class:`ToolCalls`), never by ``inspect`` per call
(unless the tool takes ``*args`` or ``**kwargs``).

Values are compared by content: strings, numbers, ``None``, lists/tuples, dicts, sets and pydantic models
(``model_dump()``) exactly; anything else by type and ``repr`` (an object whose ``repr`` shows only its address is
never the same as another call's, so it can only be missed as a repeat, never mistaken for one).

A fingerprint is ``"<tool name>\\x1f<tool id>\\x1f<arguments>"``: the arguments' canonical text when it is short, else a
128-bit BLAKE2b digest of it (so a store never holds long argument values).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import TYPE_CHECKING, Any

from actguard.guards._wrap import forwards_bound

# hashlib's own BLAKE2b, without the OpenSSL bindings (_hashlib, 2-3 ms) that `import hashlib` loads as well
try:
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - a Python built without its bundled BLAKE2
    from hashlib import blake2b

if TYPE_CHECKING:  # inspect is imported by the decorators that hand over a signature, not with actguard
    import inspect

__all__ = ["CallKeyer", "ToolCalls", "canonical", "tool_name_of"]

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
    """The tool name a fingerprint (or a call key of :class:`ToolCalls`) starts with."""
    head = fingerprint if isinstance(fingerprint, str) else fingerprint[0]  # type: ignore[index]
    return str(head).partition("\x1f")[0]


class ToolCalls:
    """How the calls of tool ``name`` (identity ``ident``) are told apart, prepared once at decoration.

    ``call_key(*args, **kwargs)`` is the in-process key of a call: for a call whose arguments are all ``str`` (up to
    64 characters), ``int``, ``bool`` or ``None`` (the common case), a tuple of the tool's head and the bound values,
    with their types when a ``bool`` is among them (``True == 1`` in a tuple, never in a fingerprint); for any other
    call, its fingerprint. ``text_of(key)`` is the fingerprint of a call with that key, the text a shared store keeps.
    Two calls have equal keys exactly when they have equal fingerprints (a tuple never equals a text), so a
    MemoryStore decides as a shared store would. ``float`` takes the text path: ``-0.0 == 0.0`` and ``nan != nan`` as
    values, not as text.

    A call that does not fit the signature raises the ``TypeError`` Python raises for it, naming the tool as the
    function's own error would (``fn``'s name, else ``name``).
    """

    def __init__(
        self, signature: inspect.Signature, name: str, ident: str, fn: Callable[..., Any] | None = None
    ) -> None:
        self.signature = signature
        self.params = list(signature.parameters.values())
        self.head = f"{name}\x1f{blake2b(ident.encode(), digest_size=6).hexdigest()}\x1f"
        self.names = (getattr(fn, "__name__", name), getattr(fn, "__qualname__", name))
        # Parameters Python cannot bind for us in a generated function: inspect binds them (slower, rare).
        self.by_inspect = any(
            p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name.startswith("_ag_") for p in self.params
        )
        self.call_key: CallKeyer = self._by_inspect(signature) if self.by_inspect else self._generate("return _ag_key")

    def text(self, values: tuple[Any, ...]) -> str:
        """The fingerprint of a call with these bound values."""
        for value in values:
            if type(value) not in _PLAIN:
                text = canonical(values)  # starts with "[": never equal to a tuple's repr, which starts with "("
                break
        else:
            text = repr(values)
        if len(text) <= _SHORT:
            return self.head + text
        return self.head + blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()

    def text_of(self, key: Hashable) -> str:
        """The fingerprint of the call whose key is ``key``: the key itself, or the text of a tuple key's values."""
        if isinstance(key, str):
            return key
        return self.text(key[1 : 1 + len(self.params)])  # type: ignore[index]

    def caller(
        self, fn: Callable[..., Any], guard: Callable[[Hashable], Any], *, is_async: bool
    ) -> Callable[..., Any] | None:
        """``fn`` behind ``guard``, as a function with ``fn``'s own parameters: a call is bound once, by Python, and
        ``guard`` gets its key before ``fn`` runs with the bound arguments (an async ``guard`` may return an awaitable,
        awaited before ``fn``). ``None`` when that could differ from passing the call on as it was spelled (see
        :func:`forwards_bound`: ``fn`` is neither a plain function whose signature is its own nor actguard guards
        around one, e.g. a wrapper the user wrote, an object, a ``__signature__``), or inspect binds.
        """
        if self.by_inspect or not forwards_bound(fn, self.signature):
            return None
        call = ", ".join(f"{p.name}={p.name}" if p.kind is p.KEYWORD_ONLY else p.name for p in self.params)
        tail = (
            f"_ag_wait = _ag_guard(_ag_key)\nif _ag_wait is not None:\n    await _ag_wait\nreturn await _ag_fn({call})"
            if is_async
            else f"_ag_guard(_ag_key)\nreturn _ag_fn({call})"
        )
        return self._generate(tail, is_async=is_async, _ag_fn=fn, _ag_guard=guard)

    def _by_inspect(self, signature: inspect.Signature) -> CallKeyer:
        text = self.text

        def by_binding(*args: Any, **kwargs: Any) -> str:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            return text((canonical(bound.arguments),))

        return by_binding

    def _generate(self, tail: str, *, is_async: bool = False, **space: Any) -> Callable[..., Any]:
        """A function with the tool's parameters that computes the call's key (``_ag_key``), then runs ``tail``.

        The key's checks are unrolled per parameter (no loop) and build one tuple.
        """
        names = [p.name for p in self.params]
        values = "".join(f"{n}, " for n in names)
        checks = "".join(
            f"""
_ag_t = _ag_type({n})
if _ag_t is _ag_str:
    if _ag_len({n}) > _ag_short:
        _ag_plain = False
elif _ag_t is _ag_bool:
    _ag_typed = True
elif _ag_t is not _ag_int and {n} is not None:
    _ag_plain = False"""
            for n in names
        )
        typed = "".join(f"_ag_type({n}), " for n in names)
        key = f"""_ag_plain = True
_ag_typed = False{checks}
if not _ag_plain:
    _ag_key = _ag_text(({values}))
elif _ag_typed:
    _ag_key = (_ag_head, {values}{typed})
else:
    _ag_key = (_ag_head, {values})
"""
        space.update(_ag_text=self.text, _ag_head=self.head, _ag_short=_SHORT)
        return _planned(self.names, self.params, key + tail, space, is_async=is_async)


# The builtins the generated code uses, under names no parameter can shadow (a tool may take ``type`` or ``str``).
_BUILTINS = {"_ag_type": type, "_ag_len": len, "_ag_str": str, "_ag_int": int, "_ag_bool": bool}


def _planned(
    names: tuple[str, str], params: list[inspect.Parameter], body: str, space: dict[str, Any], *, is_async: bool
) -> Callable[..., Any]:
    """A function taking the tool's arguments (as its parameters' names) that runs ``body``.

    Python binds them itself: the function is generated here once with the tool's parameters (names, kinds, the
    same default objects), so a call costs one C-level binding, and a call that does not fit raises Python's own
    ``TypeError`` for it, naming the function ``names`` (``__name__``, ``__qualname__``). Names the body uses start
    with ``_ag_`` (a tool with such a parameter is bound by ``inspect`` instead).
    """
    space = {**_BUILTINS, **space}
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
    source = f"{'async ' if is_async else ''}def _ag_bind({', '.join(out)}):{lines}\n"
    exec(source, space)
    bind: Any = space["_ag_bind"]
    # Python's TypeError for a call that does not fit names the function: 3.10 by its code's name, later by its
    # qualified name.
    bind.__code__ = bind.__code__.replace(co_name=names[0])
    bind.__name__, bind.__qualname__ = names
    return bind  # type: ignore[no-any-return]
