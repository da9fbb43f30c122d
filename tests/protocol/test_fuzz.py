"""Fuzzing the parsers strangers reach: random bytes and near-valid batches into the strict JSON
parser and the batch decoder find no exception but the documented refusal (ProtocolError)."""

import contextlib
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from origin.protocol import transactions as tx
from origin.protocol.canonical import canonical, parse
from origin.protocol.errors import ProtocolError
from world import LEDGER, Key, World, replace_somewhere

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


def decodes_or_refuses(body: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        tx.decode_batch(body, LEDGER)


@given(st.binary(max_size=2000))
@settings(max_examples=500)
def test_random_bytes(body):
    with contextlib.suppress(ProtocolError):
        parse(body)
    decodes_or_refuses(body)


@given(JSON)
@settings(max_examples=300)
def test_random_json_documents(value):
    decodes_or_refuses(json.dumps(value).encode())
    decodes_or_refuses(json.dumps({"transactions": [value]}).encode())


@st.composite
def mutated_batches(draw):
    """A real batch with one value somewhere replaced by random JSON, or its bytes cut."""
    batch = tx.batch(World().publish(Key()), World().issue(Key()))
    replace_somewhere(batch, draw, JSON)
    body = json.dumps(batch, allow_nan=True).encode()  # NaN, lone surrogates: the parser's to refuse
    if draw(st.booleans()):
        with contextlib.suppress(ProtocolError):  # some values have no canonical form
            body = canonical(batch)
    return body[: draw(st.integers(0, len(body)))] if draw(st.booleans()) else body


@given(mutated_batches())
@settings(max_examples=300)
def test_near_valid_batches(body):
    decodes_or_refuses(body)


@given(st.integers(1, 20_000), st.sampled_from([b"", b"-"]), st.sampled_from([b"", b".5", b"e3"]))
def test_numbers_of_any_length(digits, sign, tail):
    """Python refuses to convert integers of over 4,300 digits: the parser must not ask it to."""
    decodes_or_refuses(b'{"transactions":[{"amount":%s%s%s}]}' % (sign, b"7" * digits, tail))
