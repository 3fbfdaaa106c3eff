from __future__ import annotations

import itertools

from actguard.guards._keys import encode, encode_value, scope_part


def test_keys_are_collision_free_where_a_separator_join_is_not() -> None:
    pieces = ["", ":", "a", "a:", ":a", "1:a", "2:a:", "s:a", "a|b", "0:"]
    tuples = [t for n in (1, 2, 3) for t in itertools.product(pieces, repeat=n)]
    keys = {encode(*t) for t in tuples}
    assert len(keys) == len(tuples)
    assert ":".join(("a:b", "c")) == ":".join(("a", "b:c"))  # what a naive join would do
    assert encode("a:b", "c") != encode("a", "b:c")


def test_scope_values_keep_their_type() -> None:
    values = ["1", 1, 1.0, True, None, ("1",), "r:builtins.int:1", "s:1"]
    parts = [scope_part(v) for v in values]
    assert len(set(parts)) == len(values)  # 1 == 1.0 == True in Python, but they are different scopes
    assert all(encode_value(v) == encode(scope_part(v)) for v in values)
