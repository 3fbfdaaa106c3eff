"""SDK meters: OpenAI, Anthropic and Google GenAI calls made inside a BudgetGuard are recorded automatically.

The hooks are installed for each SDK already imported when actguard is imported, right after the import of an SDK
imported later (a ``sys.meta_path`` hook that watches only those packages), and checked again whenever a BudgetGuard
is created or entered. They patch SDK classes, so clients built before a guard are metered
too. Outside any BudgetGuard a hooked method costs one contextvar lookup and then runs the SDK's own code.
:func:`uninstall` puts every SDK method back and removes the import hook (for tests). Each SDK's version and the
shape of the internals its patch relies on are checked once, before it is patched: an SDK that does not fit is left
alone, with one :class:`~actguard.ActGuardWarning`.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import threading
from collections.abc import Callable

from actguard.budget.providers import anthropic, google, openai

__all__ = ["install", "install_imported", "installed", "uninstall", "watch_imports"]

# provider -> (module that must be imported, install, uninstall)
_SDKS: dict[str, tuple[str, Callable[[], bool], Callable[[], None]]] = {
    "openai": ("openai", openai.install, openai.uninstall),
    "anthropic": ("anthropic", anthropic.install, anthropic.uninstall),
    "google": ("google.genai", google.install, google.uninstall),
}
_installed: set[str] = set()
_refused: set[str] = set()  # SDKs whose version or shape the meter does not support (warned once)
_lock = threading.RLock()  # one installer at a time: a method is never wrapped twice


def watch_imports() -> None:
    """Install each SDK's meter as soon as it is imported (for SDKs not imported yet)."""
    from actguard.budget.providers._import_hook import watch

    watch({module for module, _, _ in _SDKS.values()}, install_imported)


def install_imported() -> None:
    """Install the meter of every supported SDK that is imported and not metered yet (cheap when nothing is new)."""
    if len(_installed) + len(_refused) == len(_SDKS):
        return
    modules = sys.modules
    for name, (module, install_one, _) in _SDKS.items():
        if name not in _installed and name not in _refused and module in modules:
            with _lock:
                if name not in _installed and name not in _refused:
                    _install_one(name, install_one)


def _install_one(name: str, install_one: Callable[[], bool]) -> None:
    if install_one():
        _installed.add(name)
    elif _SDKS[name][0] in sys.modules:
        _refused.add(name)  # installed but not supported: install_one warned, do not check again


def install() -> list[str]:
    """Import every supported SDK that is installed and meter it. Returns the providers now metered."""
    for module, _, _ in _SDKS.values():  # import outside the lock (an import may run the import hook, which locks)
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    with _lock:
        for name, (_, install_one, _) in _SDKS.items():
            if name not in _installed and name not in _refused:
                _install_one(name, install_one)
    return sorted(_installed)


def installed() -> list[str]:
    """The providers whose SDK is metered."""
    return sorted(_installed)


def uninstall() -> None:
    """Remove every SDK meter and the import hook (the SDKs behave exactly as without actguard until the next
    :func:`install`). A method another library wrapped on top of actguard's is left to it, with actguard's part
    switched off."""
    from actguard.budget.providers._import_hook import unwatch

    unwatch()
    with _lock:
        for name, (_, _, uninstall_one) in _SDKS.items():
            uninstall_one()
            _installed.discard(name)
        _refused.clear()
