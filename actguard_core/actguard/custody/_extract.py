"""Turn ``prove(extract=...)`` into a function from a tool's result to the id values it contains.

``extract`` is one of:

* a key or attribute name, ``"id"``;
* a dotted path, ``"customer.id"`` or ``"orders.id"``; each step reads a mapping key (for dicts and other
  mappings) or an attribute (dataclasses, pydantic models, plain objects, named tuples);
* a callable ``extract(result)`` returning one value or an iterable of values.

Walking a path, every collection met on the way (list, tuple, set, frozenset, deque, dict views, or the result
itself when it is a generator) is walked element by element, so ``"id"`` finds the ids of a list of orders and
``"orders.id"`` those of ``{"orders": [...]}``. A step that is absent (no such key or attribute) yields nothing,
and ``None`` is skipped wherever it appears: it is never minted as the text ``"None"``. A collection at the end of
the path yields each of its elements. A one-shot iterator nested *inside* a result cannot be read without
consuming what the caller gets back, so it is refused (return a list instead). A result that is text (for example
JSON a tool already serialised) is not parsed: a path finds nothing in it, so pass a callable such as
``lambda text: [o["id"] for o in json.loads(text)]``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence, Set, ValuesView
from typing import Any

from actguard.exceptions import ConfigError

__all__ = ["Extractor", "compile_extract"]

Extractor = Callable[[Any], list[Any]]

_MISSING: Any = object()
_TEXT = (str, bytes, bytearray, memoryview)


def compile_extract(extract: Any, where: str) -> Extractor:
    """Validate ``extract`` and return ``values(result)`` yielding the raw (not yet canonical) values.

    Raises:
        ConfigError: ``extract`` is not a non-empty name, a dotted path of non-empty names (none starting with
            ``"__"``), or a callable.
    """
    if isinstance(extract, str):
        parts = tuple(extract.split("."))
        if not extract or any(not p or p.startswith("__") for p in parts):
            raise ConfigError(
                f"{where} must be a key or attribute name, a dotted path of them (no empty or dunder steps), "
                f"or a callable; got {extract!r}"
            )

        def by_path(result: Any) -> list[Any]:
            out: list[Any] = []
            _walk(result, parts, 0, out)
            return out

        return by_path
    if callable(extract):

        def by_callable(result: Any) -> list[Any]:
            out: list[Any] = []
            _leaves(extract(result), out, top=True)
            return out

        return by_callable
    raise ConfigError(f"{where} must be a key or attribute name, a dotted path, or a callable; got {extract!r}")


def _is_collection(value: Any) -> bool:
    if isinstance(value, (*_TEXT, Mapping)):
        return False
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple is a record, not a collection
        return False
    return isinstance(value, (Sequence, Set, ValuesView, Iterator))


def _refuse_iterator(value: Any) -> None:
    if isinstance(value, Iterator):
        raise ConfigError(
            f"prove(extract=...) met a one-shot iterator ({type(value).__name__}) inside the tool's result; reading "
            "it would empty what the caller gets back. Accepted inside results: lists, tuples, sets, dicts, "
            "dataclasses, pydantic models (return a list instead of a generator)."
        )


def _walk(obj: Any, parts: tuple[str, ...], i: int, out: list[Any]) -> None:
    if obj is None:
        return
    if i == len(parts):
        _leaves(obj, out, top=False)
        return
    if type(obj) is list:  # the common shape: a list of records
        for item in obj:
            _walk(item, parts, i, out)
        return
    if type(obj) is dict:
        value = obj.get(parts[i], _MISSING)
    elif _is_collection(obj):
        _refuse_iterator(obj)
        for item in obj:
            _walk(item, parts, i, out)
        return
    elif isinstance(obj, Mapping):
        value = obj.get(parts[i], _MISSING)
    else:
        value = getattr(obj, parts[i], _MISSING)
    if value is not _MISSING:
        _walk(value, parts, i + 1, out)


def _leaves(value: Any, out: list[Any], *, top: bool) -> None:
    if value is None:
        return
    if type(value) is str or type(value) is int:
        out.append(value)
    elif _is_collection(value):
        if not top:
            _refuse_iterator(value)
        for item in value:
            _leaves(item, out, top=False)
    else:
        out.append(value)
