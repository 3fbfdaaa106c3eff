"""A SQLite file that cannot be opened is named in the error: "unable to open database file" alone says not which."""

from __future__ import annotations

from pathlib import Path

import pytest

import actguard


def test_the_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "missing-dir" / "actguard.db"
    with pytest.raises(actguard.StoreUnavailable) as caught:
        actguard.SQLiteStore(path)
    assert str(path) in str(caught.value)
    assert caught.value.store == "sqlite"
