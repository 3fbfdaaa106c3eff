"""How idempotent results are kept by stores shared across processes (SQLite, Redis).

The memory store keeps the result object itself. A shared store must serialise it:

- ``"json"`` (the default): the result must be JSON-serialisable (``None``, bool, int, float, str, lists and dicts
  with string keys, nested). A duplicate call gets back the JSON round trip: tuples come back as lists, and a
  non-string dict key as a string. Anything else (a dataclass, a pydantic model, bytes, a datetime) cannot be stored:
  the call that produced it raises :class:`actguard.ConfigError` naming the type and the fix (return
  ``model.model_dump()``, or opt in to pickle), and its key is marked "outcome unknown", so the tool, which did run,
  is not run again for that key until the TTL ends. Loud on the first call, never a silent second execution.
- ``"pickle"``: any picklable object, base64-encoded. Opt in only when every process that can write to the store is
  trusted: unpickling data from the store runs code chosen by whoever wrote it.
"""

from __future__ import annotations

import base64
import json
import pickle
from typing import Any, Literal

from actguard.exceptions import ConfigError

__all__ = ["Codec", "Serializer", "make_codec", "wire", "wire_all"]

Serializer = Literal["json", "pickle"]


class Codec:
    """Turns an idempotent result into text and back."""

    __slots__ = ("name",)

    def __init__(self, name: Serializer) -> None:
        self.name = name

    def dumps(self, result: Any, where: str) -> str:
        """Serialise ``result``; raise ConfigError naming ``where`` (the store) when it cannot be."""
        try:
            if self.name == "pickle":
                return base64.b64encode(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)).decode("ascii")
            return json.dumps(result, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError, pickle.PicklingError, AttributeError) as exc:
            hint = (
                "return JSON-serialisable values (dict, list, str, int, float, bool, None; e.g. model.model_dump()) "
                f"or build the store with {where}(..., serializer='pickle') if every writer is trusted"
                if self.name == "json"
                else "return a picklable value"
            )
            raise ConfigError(
                f"{where} cannot store an idempotent result of type {type(result).__name__} "
                f"({type(exc).__name__}: {exc}); {hint}. The call ran once and its key is marked outcome-unknown."
            ) from exc

    def loads(self, data: str | bytes) -> Any:
        """Rebuild a result stored by :meth:`dumps`."""
        if self.name == "pickle":
            return pickle.loads(base64.b64decode(data))
        return json.loads(data)


def make_codec(serializer: object, where: str) -> Codec:
    """Validate a ``serializer`` argument."""
    if serializer == "json":
        return Codec("json")
    if serializer == "pickle":
        return Codec("pickle")
    raise ConfigError(f"{where}(serializer=...) must be 'json' or 'pickle', got {serializer!r}")


def wire(text: str) -> str | bytes:
    """A key or value as a shared store sends it: unchanged when it is valid UTF-8; otherwise (a lone surrogate,
    e.g. ``"\\ud800"`` from JSON tool arguments) its UTF-8 bytes with the surrogates kept (``surrogatepass``).

    No valid string encodes to those bytes, so distinct strings stay distinct keys, and every store accepts any
    ``str`` as MemoryStore does (SQLite keeps them as BLOBs, which never equal a TEXT key).
    """
    if text.isascii():
        return text
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")
    return text


def wire_all(values: Any) -> Any:
    """``values`` (a sequence of driver parameters) with every non-ASCII ``str`` passed through :func:`wire`."""
    for value in values:  # a plain loop: this runs on every store call, and most calls are all ASCII
        if type(value) is str and not value.isascii():
            return [wire(v) if type(v) is str else v for v in values]
    return values
