"""actguard.configure(): the quickstart's forms, clear errors, unknown keys, the store, and a key that never leaks."""

from __future__ import annotations

import base64
import json
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import actguard
from actguard import ActGuardWarning, ConfigError, reporting
from actguard.config import ENV_VAR, Config, current_config

KEY = "sk-cfg-SECRET-42"
GOOD = {"agent_id": "support-bot", "gateway_url": "https://gateway.example.com/v1/events", "api_key": KEY}


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(ENV_VAR, raising=False)
    yield
    actguard.configure(None)
    reporting.shutdown(timeout=1.0)


def b64(data: Any, alphabet: str = "standard") -> str:
    raw = json.dumps(data).encode()
    if alphabet == "urlsafe":
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return base64.b64encode(raw).decode()


def assert_configured(config: Config | None) -> None:
    assert config is not None and config == current_config()
    assert (config.agent_id, config.gateway_url, config.api_key) == (GOOD["agent_id"], GOOD["gateway_url"], KEY)


def test_json_file_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "actguard.json").write_text(json.dumps(GOOD))
    monkeypatch.chdir(tmp_path)
    assert_configured(actguard.configure("./actguard.json"))
    assert_configured(actguard.configure(tmp_path / "actguard.json"))


def test_base64_json_standard_and_urlsafe_unpadded() -> None:
    assert_configured(actguard.configure(b64(GOOD)))
    assert_configured(actguard.configure(b64(GOOD, "urlsafe")))


def test_raw_json_and_dict() -> None:
    assert_configured(actguard.configure(json.dumps(GOOD, indent=2)))
    assert_configured(actguard.configure(dict(GOOD)))


def test_no_argument_reads_actguard_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, b64(GOOD))
    assert_configured(actguard.configure())
    assert_configured(actguard.configure(os.environ[ENV_VAR]))  # the quickstart's spelling


def test_none_clears_even_while_the_env_var_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, b64(GOOD))
    actguard.configure()
    assert actguard.configure(None) is None
    assert current_config() is None
    assert reporting._sinks == () and reporting._agent_id is None


def test_no_argument_without_the_env_var_says_so() -> None:
    with pytest.raises(ConfigError, match="ACTGUARD_CONFIG environment variable, which is not set"):
        actguard.configure()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not base64 at all!", r"not base64 JSON \(invalid base64"),
        (base64.b64encode(b"hello world").decode(), "decodes as base64, but not to a JSON object"),
        (base64.b64encode(b'{"agent_id": ').decode(), r"\(base64 JSON\): invalid JSON"),
        ("./missing.json", r"\(JSON file './missing.json'\): no such file"),
        ('{"agent_id": "a",}', r"\(raw JSON\): invalid JSON"),
        ({**GOOD, "gateway_url": "ftp://gateway.example.com"}, "http:// or https://.*got scheme 'ftp'"),
        ({**GOOD, "gateway_url": "gateway.example.com"}, "http:// or https://.*got scheme ''"),
        ({"gateway_url": GOOD["gateway_url"]}, "'api_key' is missing"),
        ({**GOOD, "batch_size": 0}, "batch_size must be a positive int, got 0"),
        ({**GOOD, "flush_interval": "1s"}, "flush_interval must be a number of seconds > 0"),
        ({**GOOD, "agent_id": 7}, "'agent_id' must be a non-empty string, got a int"),
        ("", "empty string"),
        (42, "must be a JSON file path, a base64 JSON string, a raw JSON string, a dict or None, got a int"),
    ],
)
def test_malformed_input_names_the_form_and_the_fault(value: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        actguard.configure(value)


def test_a_bad_json_file_and_a_non_object(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(ConfigError, match=r"JSON file .*bad.json'\): invalid JSON: .* line 1 column 2"):
        actguard.configure(str(bad))
    bad.write_text("[1, 2]")
    with pytest.raises(ConfigError, match=r"expected a JSON object .* got a JSON array"):
        actguard.configure(str(bad))


def test_the_env_var_form_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "%%%")
    with pytest.raises(ConfigError, match=r"^ACTGUARD_CONFIG: not raw JSON"):
        actguard.configure()


def test_a_failed_configure_changes_nothing() -> None:
    actguard.configure(dict(GOOD))
    sinks = reporting._sinks
    with pytest.raises(ConfigError):
        actguard.configure({**GOOD, "gateway_url": "ftp://x"})
    assert_configured(current_config())
    assert reporting._sinks == sinks


def test_unknown_keys_warn_and_are_ignored() -> None:
    with pytest.warns(ActGuardWarning, match="unknown key.*'colour'.*known keys: agent_id"):
        config = actguard.configure({**GOOD, "colour": "blue"})
    assert_configured(config)


def test_the_api_key_never_appears_in_reprs_warnings_errors_logs_or_events(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG, logger="actguard")
    texts: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config = actguard.configure(
            {**GOOD, "unknown_thing": KEY, "events_file": str(tmp_path / "e.jsonl"), "shutdown_timeout": 0.2}
        )
        texts += [str(w.message) for w in caught]
    assert config is not None
    texts += [repr(config), str(config), repr(reporting._sinks)]
    for bad in (
        {**GOOD, "gateway_url": "ftp://x"},
        {**GOOD, "batch_size": -1},
        json.dumps(GOOD)[:-1],
        base64.b64encode(json.dumps(GOOD)[:-1].encode()).decode(),
    ):
        with pytest.raises(ConfigError) as info:
            actguard.configure(bad)
        texts.append(str(info.value))
        assert info.value.__cause__ is None and info.value.__suppress_context__
    reporting.emit("tool_guard", "rate_limit", "allowed")
    actguard.configure(None)  # flushes the file
    texts.append((tmp_path / "e.jsonl").read_text())
    texts.append(caplog.text)
    assert "gateway" in caplog.text  # the failed deliveries were logged (without the key)
    assert all(KEY not in text for text in texts), [t for t in texts if KEY in t]


def test_store_sets_the_default_store_and_leaves_the_config_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, b64(GOOD))  # not read: only store= was given
    mem = actguard.MemoryStore()
    assert actguard.configure(store=mem) is None
    assert actguard.get_default_store() is mem and current_config() is None
    actguard.configure(dict(GOOD), store=None)
    assert actguard.get_default_store() is not mem
    assert_configured(current_config())
    with pytest.raises(ConfigError, match="store must be an actguard Store"):
        actguard.configure(store="redis://localhost")  # type: ignore[arg-type]


def test_guards_and_emit_work_without_configuration() -> None:
    assert current_config() is None and reporting._sinks == ()
    reporting.emit("tool_guard", "rate_limit", "allowed")
    with actguard.RunContext():
        pass
