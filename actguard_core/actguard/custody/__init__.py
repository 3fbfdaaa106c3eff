"""Chain of custody: a write tool may act only on ids that a read tool returned in the same session.

* :func:`actguard.session` opens the session (who the agent acts for).
* :func:`prove` on read tools mints facts ``(kind, id)`` from what they return.
* :func:`enforce` on write tools checks rules before they run: :class:`RequireFact` (the id was proven),
  :class:`Threshold`, :class:`BlockRegex`, or your own :class:`Rule`.
* Refusals raise :class:`actguard.GuardError`; its ``to_prompt()`` tells the model what to do instead.

An agent that read an id in untrusted text (an email, a web page) and was told to act on it is stopped: that id
was never returned by a read tool in this session. Facts go through the :class:`actguard.Store`, so they are shared
by every process using the same store, expire at their TTL, and never cross sessions or scopes.

Decisions worth knowing:

* **What a fact is.** A ``(kind, value)`` pair kept as two fields in the session's namespace (JSON of session id
  and sorted scope), so no choice of characters makes two facts, or two sessions, collide. Values are canonical
  text: a ``str`` as is, an ``int`` as its decimal text (so ``1`` and ``"1"`` are one fact), a ``uuid.UUID`` as
  ``str(u)``; floats, bools, ``None``, bytes and objects are not ids and are refused (``None`` is never minted).
* **Reusing a session id.** Facts belong to the (session id, scope) pair, not to one ``with`` block: the same id
  and scope opened again later (another turn of the conversation, another worker sharing the store) sees them
  until their TTL; any other scope never does. Use a fresh id per request for isolation, or :func:`forget`.
* **Refusals before the tool runs.** ``enforce`` checks every rule before the call; outside a session both
  decorators refuse with ``NO_SESSION`` before the tool runs. ``prove`` judges the *result*, so a
  ``TOO_MANY_RESULTS`` refusal comes after the read happened (it mints nothing, and the result is dropped).
* **Fail closed.** A store that cannot be reached raises :class:`actguard.StoreUnavailable`; facts never fail open.
"""

from __future__ import annotations

from actguard.context import Session, current_session
from actguard.custody._facts import canonical, proving_tools
from actguard.custody.enforce import enforce
from actguard.custody.prove import prove
from actguard.custody.rules import BlockRegex, RequireFact, Rule, Threshold
from actguard.exceptions import ConfigError
from actguard.stores import Store, get_default_store

__all__ = [
    "BlockRegex",
    "RequireFact",
    "Rule",
    "Threshold",
    "canonical",
    "enforce",
    "forget",
    "prove",
    "proving_tools",
]


def forget(session: Session | None = None, *, store: Store | None = None) -> None:
    """Drop every fact of ``session`` (default: the current one) from ``store`` (default: the default store).

    Facts belong to the session id and scope, so a later ``session()`` with the same id and scope would see them
    until their TTL; call this when a conversation ends to close that door at once.

    Raises:
        ConfigError: no session given and none is active.
    """
    target = session if session is not None else current_session()
    if target is None:
        raise ConfigError("forget(session=...) needs a Session, or an active actguard.session(...)")
    (store or get_default_store()).facts_clear(target.namespace)
