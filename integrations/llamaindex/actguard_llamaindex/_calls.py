"""One call id per LLM call, so a call reported by nested LlamaIndex callbacks (or several layers) counts once.

A response that carries the provider's id is recorded under it (the id actguard's SDK meters use too). One without
an id gets a synthetic id, remembered for the response object (and its ``raw``) for a short window: an LLM whose
``achat`` calls its own decorated ``chat`` reports the same response object twice, right after each other.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from typing import Any

from actguard_llamaindex._usage import call_id_of

__all__ = ["call_key"]

_WINDOW = 1024  # recent id-less responses remembered (strong references keep their ids unique meanwhile)
_lock = threading.Lock()
_recent: OrderedDict[int, tuple[Any, str]] = OrderedDict()
_counter = itertools.count(1)


def call_key(response: Any) -> str:
    """The id to record ``response`` under: the provider's response id, else one stable per response object."""
    provider_id = call_id_of(response)
    if provider_id is not None:
        return provider_id
    raw = getattr(response, "raw", None)
    objects = [response] if raw is None or isinstance(raw, (str, bytes, int, float)) else [response, raw]
    with _lock:
        for obj in objects:
            seen = _recent.get(id(obj))
            if seen is not None and seen[0] is obj:
                return seen[1]
        key = f"llamaindex-call-{next(_counter)}"
        for obj in objects:
            _recent[id(obj)] = (obj, key)
            _recent.move_to_end(id(obj))
        while len(_recent) > _WINDOW:
            _recent.popitem(last=False)
        return key
