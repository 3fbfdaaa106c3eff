"""Install an SDK's meter right after the SDK is imported, when that happens after actguard's import.

A ``sys.meta_path`` finder that answers only for the SDK packages not imported yet (``openai``, ``anthropic``,
``google.genai``): it finds their spec with the other finders and wraps the loader so that, once the package has
finished executing, the meters are installed. Every other import pays one set lookup.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

__all__ = ["unwatch", "watch"]

_lock = threading.Lock()


class _Loader(importlib.abc.Loader):
    def __init__(self, inner: Any, after: Callable[[], None]) -> None:
        self._inner = inner
        self._after = after

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        create = getattr(self._inner, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: ModuleType) -> None:
        self._inner.exec_module(module)
        with contextlib.suppress(Exception):  # metering must never break the SDK's import
            self._after()

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, is_package, get_source...
        return getattr(self._inner, name)


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self, names: set[str], after: Callable[[], None]) -> None:
        self.names = names
        self.after = after

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.names:
            return None
        with _lock:
            self.names.discard(fullname)
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Loader(spec.loader, self.after)
                return spec
        return None


_finder: _Finder | None = None


def watch(names: set[str], after: Callable[[], None]) -> None:
    """Call ``after`` once each of the modules ``names`` (not imported yet) has been imported."""
    global _finder
    pending = {name for name in names if name not in sys.modules}
    if not pending:
        return
    with _lock:
        if _finder is None:
            _finder = _Finder(pending, after)
            sys.meta_path.insert(0, _finder)
        else:
            _finder.names |= pending


def unwatch() -> None:
    """Remove the import hook from ``sys.meta_path`` (``watch`` adds it again)."""
    global _finder
    with _lock:
        if _finder is not None:
            with contextlib.suppress(ValueError):
                sys.meta_path.remove(_finder)
            _finder = None
