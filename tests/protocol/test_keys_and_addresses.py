import hashlib

import pytest
from coincurve import PrivateKey

from origin.protocol import addresses, keys

ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def test_sign_and_verify():
    secret = keys.new_private_key()
    digest = hashlib.sha256(b"origin").digest()
    sig = keys.sign(secret, digest)
    assert len(sig) == 64 and int.from_bytes(sig[32:], "big") <= ORDER // 2  # low-S
    assert keys.verify(keys.public_key(secret), sig, digest)
    assert not keys.verify(keys.public_key(secret), sig, hashlib.sha256(b"other").digest())
    assert not keys.verify(keys.public_key(keys.new_private_key()), sig, digest)


def test_signatures_are_deterministic_rfc6979():
    secret, digest = bytes(31) + b"\x01", hashlib.sha256(b"x").digest()
    assert keys.sign(secret, digest) == keys.sign(secret, digest)


def test_high_s_signature_is_refused():
    secret = keys.new_private_key()
    digest = hashlib.sha256(b"malleable").digest()
    sig = keys.sign(secret, digest)
    s = int.from_bytes(sig[32:], "big")
    high = sig[:32] + (ORDER - s).to_bytes(32, "big")
    assert not keys.verify(keys.public_key(secret), high, digest)


def test_bad_signature_bytes_never_verify():
    public = keys.public_key(keys.new_private_key())
    digest = bytes(32)
    assert not keys.verify(public, b"\xff" * 64, digest)  # r, s over the order
    assert not keys.verify(public, bytes(64), digest)
    assert not keys.verify(public, bytes(63), digest)


def test_public_keys_are_33_byte_compressed_points():
    public = keys.public_key(keys.new_private_key())
    assert keys.is_public_key(public)
    uncompressed = PrivateKey().public_key.format(compressed=False)
    assert not keys.is_public_key(uncompressed)
    assert not keys.is_public_key(b"\x02" + b"\xff" * 32)  # x not on the curve
    assert not keys.is_public_key(b"\x04" + public[1:])


def test_namespace_prefixes_of_the_protocol_table():
    assert addresses.PREFIX == {"measurement": "fbb4f9", "ggo": "62fe8a", "settlement": "65876d"}


def test_addresses_share_the_key_part():
    public = keys.public_key(keys.new_private_key())
    m = addresses.address("measurement", public)
    assert len(m) == 70 and m[6:] == hashlib.sha256(public).hexdigest()
    g = addresses.in_namespace("ggo", m)
    assert g == addresses.address("ggo", public)
    assert addresses.namespace_of(g) == "ggo" and addresses.key_part(g) == addresses.key_part(m)
    assert addresses.namespace_of("00" * 35) is None


@pytest.mark.parametrize("text", ["fbb4f9" + "0" * 63, "FBB4F9" + "0" * 64, "fbb4f9" + "g" * 64, 5, None])
def test_is_address(text):
    assert not addresses.is_address(text)
