"""``actguard.configure()``: where events go (the ActGuard gateway, a JSONL file) and which store guards share.

Configuration is optional: every guard works without it. A configuration is one JSON object, given as

- a path to a JSON file: ``configure("./actguard.json")``;
- a base64-encoded JSON string (standard or URL-safe alphabet): ``configure(os.environ["ACTGUARD_CONFIG"])``;
- a raw JSON string (starting with ``{``), or a dict;
- nothing: ``configure()`` reads the ``ACTGUARD_CONFIG`` environment variable (any of the string forms).

``configure(None)`` clears it, even while ``ACTGUARD_CONFIG`` is set: events stop, and those already queued are
delivered first (waiting up to the old configuration's ``shutdown_timeout``). Reconfiguring does the same for the sinks
it replaces.

Keys (all optional):

==================  ===========================================================================  ===========
key                 meaning                                                                      default
==================  ===========================================================================  ===========
agent_id            names this agent in every event                                              null
gateway_url         http(s) URL events are POSTed to in batches (needs ``api_key``)              no gateway
api_key             the gateway's bearer token; never logged, warned or shown in reprs           --
events_file         also append every event to this JSONL file                                   no file
flush_interval      seconds a partial batch may wait                                             1.0
batch_size          most events per batch                                                        100
max_batch_bytes     most bytes per batch                                                         1000000
queue_size          most events waiting per sink; more are dropped, counted and warned once      10000
timeout             seconds one gateway request may take                                         5.0
backoff_initial     first retry delay in seconds (doubles per attempt, with jitter)              0.5
backoff_max         longest retry delay in seconds                                               30.0
shutdown_timeout    seconds interpreter exit and ``actguard.shutdown()`` wait for queued events  5.0
==================  ===========================================================================  ===========

Unknown keys warn (:class:`~actguard.ActGuardWarning`); malformed input raises :class:`~actguard.ConfigError` naming the
form that was tried and what was wrong.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Final

from actguard import reporting
from actguard.exceptions import ActGuardWarning, ConfigError
from actguard.reporting import QueuedSink, SenderOptions
from actguard.stores import Store, set_default_store

__all__ = ["ENV_VAR", "Config", "configure", "current_config"]

ENV_VAR: Final = "ACTGUARD_CONFIG"


class _Unset:
    def __repr__(self) -> str:
        return "<not given>"


_UNSET: Final = _Unset()

_OPTION_NAMES: Final = tuple(f.name for f in fields(SenderOptions))


@dataclass(frozen=True)
class Config:
    """A validated configuration, as returned by :func:`configure`. The api key is left out of its ``repr``."""

    agent_id: str | None = None
    gateway_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    events_file: str | None = None
    options: SenderOptions = field(default_factory=SenderOptions)


_KNOWN_KEYS: Final = ("agent_id", "gateway_url", "api_key", "events_file", *_OPTION_NAMES)

_lock = threading.Lock()
_config: Config | None = None
_owned_sinks: list[QueuedSink] = []


def configure(
    config: str | os.PathLike[str] | Mapping[str, Any] | _Unset | None = _UNSET,
    *,
    store: Store | _Unset | None = _UNSET,
    **settings: Any,
) -> Config | None:
    """Configure event reporting (and, with ``store=``, the default store).

    Args:
        config: a JSON file path, a base64 JSON string, a raw JSON string or a dict (see the module docs); ``None``
            clears the configuration; not given: read ``ACTGUARD_CONFIG`` (unless only ``store`` is given).
        store: make this the default store of every guard without its own (as :func:`actguard.set_default_store`);
            ``None`` goes back to a fresh in-process MemoryStore; not given: leave the store alone.
        **settings: the keys of the module docs as keyword arguments, instead of ``config``:
            ``configure(events_file="events.jsonl")``, ``configure(gateway_url=..., api_key=..., agent_id=...)``.

    Returns:
        The configuration now in force, or None when cleared (or when only ``store`` was given and none is set).

    Raises:
        ConfigError: the input is malformed (bad base64, bad JSON, a missing file, a bad value, ``ACTGUARD_CONFIG``
            unset when read); nothing is changed then.
    """
    if settings:
        config = _from_keywords(config, settings)
    new: tuple[Config, list[QueuedSink]] | _Unset | None
    if config is _UNSET and not isinstance(store, _Unset):
        new = _UNSET  # only the store
    elif config is _UNSET:
        raw = os.environ.get(ENV_VAR)
        if raw is None or not raw.strip():
            raise ConfigError(
                f"configure() with no argument reads the {ENV_VAR} environment variable, which is "
                f"{'empty' if raw is not None else 'not set'}; set it to a JSON file path, base64 JSON or raw JSON, "
                "or call configure(None) to run without a gateway"
            )
        new = _parse(raw, f"{ENV_VAR}")
    elif config is None:
        new = None
    else:
        new = _parse(config, "configure(config)")
    if not isinstance(store, _Unset):
        set_default_store(store)
    if isinstance(new, _Unset):
        return _config
    if new is None:
        _apply(None, [])
        return None
    _apply(*new)
    return new[0]


def _from_keywords(config: object, settings: dict[str, Any]) -> dict[str, Any]:
    if config is not _UNSET:
        raise ConfigError("configure() takes a configuration (file, JSON, dict) or keyword arguments, not both")
    unknown = sorted(key for key in settings if key not in _KNOWN_KEYS)
    if unknown:
        raise ConfigError(
            f"configure(): unknown keyword argument(s) {', '.join(unknown)}; known: {', '.join(_KNOWN_KEYS)}"
        )
    return settings


def current_config() -> Config | None:
    """The configuration in force, or None."""
    return _config


def _apply(new: Config | None, sinks: list[QueuedSink]) -> None:
    global _config
    with _lock:
        old = list(_owned_sinks)
        for sink in old:
            reporting.remove_sink(sink)
        reporting._set_agent_id(new.agent_id if new is not None else None)
        for sink in sinks:
            reporting.add_sink(sink)
        _owned_sinks[:] = sinks
        _config = new
    for sink in old:
        sink.close()  # deliver what the old configuration already queued


def _parse(source: Any, origin: str) -> tuple[Config, list[QueuedSink]]:
    """Decode and validate one configuration; ``origin`` names where it came from, for error messages."""
    if isinstance(source, Mapping):
        return _validate(source, f"{origin} (dict)")
    if isinstance(source, os.PathLike):
        return _validate(_read_file(os.fspath(source), origin), f"{origin} (JSON file {os.fspath(source)!r})")
    if not isinstance(source, str):
        raise ConfigError(
            f"{origin} must be a JSON file path, a base64 JSON string, a raw JSON string, a dict or None, "
            f"got a {type(source).__name__}"
        )
    text = source.strip()
    if not text:
        raise ConfigError(f"{origin} is an empty string; expected a JSON file path, base64 JSON or raw JSON")
    if text.startswith("{"):
        return _validate(_loads(text, f"{origin} (raw JSON)"), f"{origin} (raw JSON)")
    if os.path.isfile(text):
        return _validate(_read_file(text, origin), f"{origin} (JSON file {text!r})")
    decoded, why_not_base64 = _b64decode(text)
    if decoded is not None:
        form = f"{origin} (base64 JSON)"
        try:
            json_text = decoded.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"{form}: the decoded bytes are not UTF-8 text") from None
        return _validate(_loads(json_text, form), form)
    if text.lower().endswith(".json") or "/" in text or os.sep in text or text.startswith(("~", ".")):
        raise ConfigError(f"{origin} (JSON file {text!r}): no such file")
    raise ConfigError(
        f"{origin}: not raw JSON (it does not start with '{{'), not an existing file, and not base64 JSON "
        f"({why_not_base64})"
    )


def _b64decode(text: str) -> tuple[bytes | None, str]:
    """Decode base64 (standard or URL-safe, padding optional) that holds a JSON object; else (None, why not)."""
    compact = "".join(text.split()).replace("-", "+").replace("_", "/")
    compact += "=" * (-len(compact) % 4)
    try:
        decoded = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None, "invalid base64: characters outside the base64 alphabet or a bad length"
    if not decoded.lstrip().startswith(b"{"):
        return None, "it decodes as base64, but not to a JSON object"
    return decoded, ""


def _read_file(path: str, origin: str) -> Any:
    form = f"{origin} (JSON file {path!r})"
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise ConfigError(f"{form}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{form}: cannot read it: {getattr(exc, 'strerror', None) or type(exc).__name__}") from None
    return _loads(text, form)


def _loads(text: str, form: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:  # its message has the position only, never the text (which holds the key)
        raise ConfigError(f"{form}: invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def _validate(data: Any, form: str) -> tuple[Config, list[QueuedSink]]:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{form}: expected a JSON object with agent_id, gateway_url, api_key; got a {_kind(data)}")
    unknown = sorted(str(key) for key in data if key not in _KNOWN_KEYS)
    if unknown:
        warnings.warn(
            f"{form}: unknown key(s) {', '.join(repr(k) for k in unknown)} ignored; known keys: "
            f"{', '.join(_KNOWN_KEYS)}",
            ActGuardWarning,
            stacklevel=4,
        )

    def text(key: str) -> str | None:
        value = data.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(f"{form}: {key!r} must be a non-empty string, got a {_kind(value)}")
        return value

    agent_id, gateway_url, api_key, events_file = (
        text(k) for k in ("agent_id", "gateway_url", "api_key", "events_file")
    )
    if gateway_url is not None and api_key is None:
        raise ConfigError(f"{form}: 'gateway_url' is set but 'api_key' is missing")
    options = {key: data[key] for key in _OPTION_NAMES if key in data}
    from actguard.reporting import HttpSink, JsonlSink  # imported when used: http.client and ssl are slow to import

    try:
        sender_options = SenderOptions(**options)
        sinks: list[QueuedSink] = []
        if gateway_url is not None:
            sinks.append(HttpSink(gateway_url, api_key=api_key, options=sender_options))
        if events_file is not None:
            sinks.append(JsonlSink(events_file, options=sender_options))
    except ConfigError as exc:
        raise ConfigError(f"{form}: {exc}") from None
    config = Config(
        agent_id=agent_id, gateway_url=gateway_url, api_key=api_key, events_file=events_file, options=sender_options
    )
    return config, sinks


def _kind(value: Any) -> str:
    return {dict: "JSON object", list: "JSON array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )
