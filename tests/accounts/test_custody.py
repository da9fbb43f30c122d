"""Keys in custody: sealed at rest, a wrong key-encryption key refused, re-wrapping, and every
derivation checked against BIP32 written here from PROTOCOL.md section 4 and BIP-0032 alone."""

import hashlib
import hmac
import os

import coincurve
import pytest
from bip32 import BIP32
from sqlalchemy import MetaData, select

from origin.accounts import custody, db, service, wallets
from origin.accounts.custody import CustodyError, LocalKek, Sealed
from origin.protocol.wallet import Wallet, receive_address

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141  # secp256k1's order
H = 2**31


def _prefix(name: str) -> str:
    return hashlib.sha256(name.encode()).digest()[:3].hex()


def _public(k: int) -> bytes:
    return coincurve.PrivateKey(k.to_bytes(32, "big")).public_key.format(compressed=True)


def derive(seed: bytes, path: list[int]) -> int:
    """BIP-0032's CKDpriv from the seed's master key, by hand."""
    i_ = hmac.new(b"Bitcoin seed", seed, hashlib.sha512).digest()
    k, c = int.from_bytes(i_[:32], "big"), i_[32:]
    for index in path:
        data = (b"\0" + k.to_bytes(32, "big") if index >= H else _public(k)) + index.to_bytes(4, "big")
        i_ = hmac.new(c, data, hashlib.sha512).digest()
        k, c = (int.from_bytes(i_[:32], "big") + k) % N, i_[32:]
    return k


def address(namespace: str, k: int) -> str:
    return _prefix(f"origin:{namespace}") + hashlib.sha256(_public(k)).hexdigest()


def seed_of(world, account: str) -> bytes:
    with world.service.engine.connect() as conn:
        row = conn.execute(select(db.accounts).where(db.accounts.c.id == account)).mappings().one()
    return custody.open_seed(world.service.kek, Sealed(row["kek_id"], row["wrapped_key"], row["sealed_seed"]), account)


def test_derivations_agree_with_bip32_by_hand(world):
    producer = world.open_account("Solar Ltd", "customer-0")
    added = world.add_meters(producer, "customer-0")
    world.import_and_follow()
    seed = seed_of(world, producer["id"])
    for meter in added:  # m/1'/i': the xpub handed to the DataHub service is of that key
        assert Wallet.from_seed(seed).meter_xpub(meter["index"]) == meter["xpub"]
        k = derive(seed, [H + 1, H + meter["index"]])
        assert bytes(BIP32.from_xpub(meter["xpub"]).pubkey) == _public(k)
    ggos = world.get(producer, "/v1/ggos")["ggos"]
    assert ggos
    by_meter = {m["index"]: m for m in added}
    with world.service.engine.connect() as conn:
        paths = dict(conn.execute(select(db.ggos.c.address, db.ggos.c.key_path)).fetchall())
    for g in ggos:  # measurement key m/1'/i'/t, t = begin // 60; the GGO shares its key part
        _, meter, t = paths[g["address"]].split("/")
        assert int(meter[:-1]) in by_meter
        k = derive(seed, [H + 1, H + int(meter[:-1]), int(t)])
        assert g["address"] == address("ggo", k) and g["origin"] == address("measurement", k)
    # Receive keys m/0'/n: the endpoint's xpub gives the same addresses as the private keys.
    endpoint = world.get(producer, "/v1/receive-endpoint")
    for n in (0, 1, 7):
        assert receive_address(endpoint["xpub"], n) == address("ggo", derive(seed, [H + 0, n]))


def everything_stored(world) -> bytes:
    """Every byte the account service's database holds: the SQLite files, or every row of every
    PostgreSQL table as text."""
    url = str(world.service.engine.url)
    if url.startswith("sqlite"):
        path = world.service.engine.url.database
        return b"".join(open(p, "rb").read() for p in (path, path + "-wal") if os.path.exists(p))
    found = []
    meta = MetaData()
    meta.reflect(world.service.engine)
    with world.service.engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)):
                found.append(repr(tuple(row)).encode())
                found += [bytes(v) for v in row if isinstance(v, bytes | memoryview)]
    return b"\n".join(found)


def test_the_database_holds_no_key_material(world):
    producer = world.open_account("Solar Ltd", "customer-0")
    consumer = world.open_account("Household Co", "customer-2")
    world.add_meters(producer, "customer-0")
    world.add_meters(consumer, "customer-2")
    world.import_and_follow()
    ggo = world.get(producer, "/v1/ggos", state="available")["ggos"][0]
    r = world.post(
        producer, "/v1/transfers", {"ggo": ggo["address"], "to": {"account": consumer["id"]}, "amount_wh": 1}
    )
    assert r.json()["status"] == "COMMITTED", r.text
    world.service.engine.dispose()
    stored = everything_stored(world)
    secrets_ = [world.kek.read_text().strip().encode()]
    for account in (producer, consumer):
        seed = seed_of(world, account["id"])
        w = Wallet.from_seed(seed)
        secrets_ += [seed, seed.hex().encode(), w.xprv.encode()]
        for path in ([H + 1, H + 0], [H + 1, H + 1], [H + 0, 0], [H + 0, 1], [H + 0]):
            k = w.private_key(path)
            secrets_ += [k, k.hex().encode()]
    for secret in secrets_:
        assert secret not in stored
    assert b"xprv" not in stored


def test_a_wrong_kek_is_refused_and_rewrap_moves_every_account(world, tmp_path):
    accounts = [world.open_account(f"a{i}")["id"] for i in range(3)]
    world.service.stop()
    other = tmp_path / "other.hex"
    other.write_text(LocalKek.generate_hex())
    with pytest.raises(service.ConfigError, match="sealed under key-encryption key"):
        service.Service(world.folder, kek=other, fetch=world.router)
    old, new = LocalKek.load(world.kek), LocalKek.load(other)
    engine = db.connect(world.service.config.database)
    assert wallets.rewrap_all(engine, old, new) == len(accounts)
    with pytest.raises(CustodyError):
        wallets.rewrap_all(engine, old, new)  # the old KEK opens none of them now: all or nothing
    engine.dispose()
    with pytest.raises(service.ConfigError, match="sealed under key-encryption key"):
        service.Service(world.folder, kek=world.kek, fetch=world.router)
    svc = service.Service(world.folder, kek=other, fetch=world.router)
    for account in accounts:  # each seed opens under the new KEK
        assert wallets.wallet(svc.engine, svc.kek, account).xpub.startswith("xpub")
    svc.stop()


def test_a_sealed_seed_moved_to_another_account_does_not_open():
    kek = LocalKek(bytes(range(32)))
    sealed = custody.seal(kek, b"s" * 32, "acc_one")
    assert custody.open_seed(kek, sealed, "acc_one") == b"s" * 32
    with pytest.raises(CustodyError):
        custody.open_seed(kek, sealed, "acc_two")
    with pytest.raises(CustodyError, match="64 hex"):
        LocalKek.from_hex("nothex", "--kek")
