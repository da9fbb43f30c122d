import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from origin.protocol.canonical import canonical, parse
from origin.protocol.errors import ProtocolError
from origin.protocol.limits import INT_MAX

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(0, INT_MAX) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def test_the_documented_encoding():
    obj = {"b": 1, "a": [True, None, "é"], "A": {"z": 0, "é": "x"}}
    assert canonical(obj) == json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert canonical(obj) == '{"A":{"z":0,"é":"x"},"a":[true,null,"é"],"b":1}'.encode()


def test_keys_sort_by_code_point():
    assert canonical({"é": 1, "z": 2, "Z": 3}) == '{"Z":3,"z":2,"é":1}'.encode()


@given(json_values)
def test_parse_inverts_canonical(value):
    assert parse(canonical(value)) == value
    assert canonical(parse(canonical(value))) == canonical(value)


@pytest.mark.parametrize(
    "text",
    [
        b'{"a":1,"a":2}',  # duplicate keys
        b'{"x":{"a":1,"a":1}}',
        b"1.5",
        b"1e3",
        b"1.0",
        b"-1",  # out of range
        b"9007199254740992",  # 2^53
        b"NaN",
        b"Infinity",
        b'"\\ud800"',  # lone surrogate
        b"\xff",  # not UTF-8
        b"{",
        b"",
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_strict_parser_refuses(text):
    with pytest.raises(ProtocolError) as exc:
        parse(text)
    assert exc.value.code == "malformed"


def test_integer_range_edges():
    assert parse(b"0") == 0
    assert parse(b"9007199254740991") == INT_MAX


def test_floats_cannot_be_encoded():
    with pytest.raises(ProtocolError):
        canonical({"a": float("nan")})
