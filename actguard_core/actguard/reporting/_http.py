"""The HTTP gateway sink: batches of envelopes POSTed as JSON, with the api key in an Authorization header."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from actguard.exceptions import ConfigError
from actguard.reporting._queued import QueuedSink
from actguard.reporting._sender import Delivery, SenderOptions

__all__ = ["HttpSink"]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is answered, not followed: following would resend the api key to another address."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


class _HttpTransport:
    def __init__(self, url: str, api_key: str | None) -> None:
        self._url = url
        parts = urllib.parse.urlsplit(url)
        self._where = f"the gateway at {parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"
        self._headers = {"Content-Type": "application/json", "User-Agent": "actguard"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._opener = urllib.request.build_opener(_NoRedirect())

    def describe(self) -> str:
        return self._where

    def send(self, batch: list[bytes], timeout: float) -> Delivery:
        body = b'{"v":1,"events":[' + b",".join(batch) + b"]}"
        request = urllib.request.Request(self._url, data=body, headers=self._headers, method="POST")
        try:
            with self._opener.open(request, timeout=timeout) as response:
                response.read()
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            status = exc.code
            retry_after = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
            exc.close()
            if status == 429 or status >= 500:
                return Delivery("retry", f"HTTP {status}", retry_after)
            return Delivery("drop", f"HTTP {status}")
        except (OSError, http.client.HTTPException) as exc:  # URLError, refused, reset, timed out
            reason = getattr(exc, "reason", exc)
            return Delivery("retry", f"{type(exc).__name__}: {reason}")
        if 200 <= status < 300:
            return Delivery("ok")
        return Delivery("drop", f"HTTP {status}")


class HttpSink(QueuedSink):
    """Sends events to an HTTP endpoint (the ActGuard gateway) in batches, from a background thread.

    Each request is ``POST url`` with body ``{"v": 1, "events": [envelope, ...]}`` and, when ``api_key`` is given,
    ``Authorization: Bearer <api_key>``. Connection errors, timeouts, 429 and 5xx are retried with capped
    exponential backoff (honouring a numeric ``Retry-After``); any other non-2xx answer drops the batch with one
    :class:`~actguard.ActGuardWarning` per distinct status. Redirects are not followed.
    :func:`actguard.configure` makes one from ``gateway_url`` and ``api_key``.

    Args:
        url: ``http://`` or ``https://`` address to POST to.
        api_key: bearer token; never logged, warned or shown in ``repr``.
        options: batching, queueing and retry settings.
    """

    def __init__(self, url: str, *, api_key: str | None = None, options: SenderOptions | None = None) -> None:
        if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            scheme = urllib.parse.urlsplit(url).scheme if isinstance(url, str) else type(url).__name__
            raise ConfigError(f"gateway_url must be an http:// or https:// URL, got scheme {scheme!r}")
        if not urllib.parse.urlsplit(url).hostname:
            raise ConfigError("gateway_url must name a host, e.g. https://gateway.example.com/v1/events")
        if api_key is not None and (not isinstance(api_key, str) or not api_key):
            raise ConfigError(f"api_key must be a non-empty str or None, got a {type(api_key).__name__}")
        transport = _HttpTransport(url, api_key)
        super().__init__(transport, options, name="http")
