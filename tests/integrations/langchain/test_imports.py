"""Without langchain v1, the middleware says what to install; the rest of the adapter works on langchain-core alone."""

from __future__ import annotations

from contract import require

require("langchain_core")

import pytest  # noqa: E402
from langchain_harness import HAS_LANGCHAIN_V1  # noqa: E402

import actguard_langchain  # noqa: E402


@pytest.mark.skipif(HAS_LANGCHAIN_V1, reason="langchain v1 is installed here (the lowest session has core alone)")
def test_the_middleware_names_what_to_install() -> None:
    with pytest.raises(ImportError, match=r'pip install "langchain>=1.0"'):
        actguard_langchain.ActGuardMiddleware  # noqa: B018


def test_the_public_names() -> None:
    assert sorted(actguard_langchain.__all__) == [
        "ActGuardCallbackHandler",
        "ActGuardMiddleware",
        "LANGCHAIN_CORE_VERSION",
        "guard_tool",
        "guard_tools",
    ]
    with pytest.raises(AttributeError):
        actguard_langchain.no_such_name  # type: ignore[attr-defined]  # noqa: B018
