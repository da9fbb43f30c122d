"""Accounts and their wallets. A held account's master seed comes from the OS's randomness and
is kept sealed (`custody`); it is opened only to sign, in memory, and never logged, returned or
written in the clear. A self-custody account gives only xpubs: the service derives addresses
and prepares transactions, and the owner signs them."""

import re
import secrets
from dataclasses import dataclass

from bip32 import BIP32
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine

from origin import database
from origin.accounts import custody, db
from origin.accounts.custody import Kek, Sealed
from origin.accounts.inventory import RECEIVE_GAP, watch_receive
from origin.protocol.wallet import Wallet

HELD, SELF = "held", "self"
NAME_LENGTH_MAX = 200
XPUB_LENGTH_MAX = 200
ACCOUNT_ID = re.compile(r"acc_[0-9a-f]{16}")


class AccountError(ValueError):
    def __init__(self, message: str, status: int = 422, code: str = "invalid_request"):
        super().__init__(message)
        self.status, self.code = status, code


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    custody: str
    receive_xpub: str
    master_xpub: str | None
    automation: bool = False


def _check_xpub(xpub: object, depth: int, what: str) -> str:
    if not isinstance(xpub, str) or not xpub.startswith("xpub") or len(xpub) > XPUB_LENGTH_MAX:
        raise AccountError(f"{what} must be a BIP32 extended public key (xpub...), never a private one")
    try:
        node = BIP32.from_xpub(xpub)
    except Exception:  # the library raises several kinds for a bad encoding
        raise AccountError(f"{what} is not a valid BIP32 extended public key") from None
    if node.depth != depth:
        raise AccountError(f"{what} must be at depth {depth}")
    return xpub


def create(engine: Engine, kek: Kek, name: str, now_s: int, master_xpub: str | None = None,
           receive_xpub: str | None = None, account_id: str | None = None) -> Account:  # fmt: skip
    """A new account: held (a fresh seed, sealed), or self-custody when the owner gives the
    xpubs of m and of m/0' (the service never sees their private keys). Its id is new, or the
    one the authorization server gave its user (`account_id`)."""
    if not isinstance(name, str) or not 0 < len(name) <= NAME_LENGTH_MAX:
        raise AccountError(f"an account's name is 1 to {NAME_LENGTH_MAX} characters")
    account = account_id or "acc_" + secrets.token_hex(8)
    if not ACCOUNT_ID.fullmatch(account):
        raise AccountError(f"an account's id is acc_ and 16 hex digits, not {account[:40]!r}")
    data_key_context = account
    if master_xpub is None:
        seed = custody.new_seed()
        sealed = custody.seal(kek, seed, data_key_context)
        receive = Wallet.from_seed(seed).receive_xpub()
        kind, seed_column = HELD, sealed.sealed_seed
    else:
        _check_xpub(master_xpub, 0, "master_xpub")
        receive = _check_xpub(receive_xpub, 1, "receive_xpub (of m/0')")
        sealed = custody.seal(kek, b"", data_key_context)  # no seed; a data key all the same, rewrapped alike
        kind, seed_column = SELF, None
    with database.writes(engine) as conn:
        if conn.execute(select(db.accounts.c.id).where(db.accounts.c.id == account)).first() is not None:
            raise AccountError(f"account {account} is open already", 409, "account_exists")
        conn.execute(insert(db.accounts).values(id=account, name=name, custody=kind, created_s=now_s,
                                                kek_id=sealed.kek_id, wrapped_key=sealed.wrapped_key,
                                                sealed_seed=seed_column, receive_xpub=receive,
                                                master_xpub=master_xpub))  # fmt: skip
        watch_receive(conn, account, receive, RECEIVE_GAP)
    return Account(account, name, kind, receive, master_xpub)


def get(conn: Connection, account: str) -> Account:
    row = conn.execute(select(db.accounts).where(db.accounts.c.id == account)).mappings().first()
    if row is None:
        raise AccountError(f"no account {account}", 404, "not_found")
    return Account(row["id"], row["name"], row["custody"], row["receive_xpub"], row["master_xpub"], row["automation"])


def wallet(engine: Engine, kek: Kek, account: str) -> Wallet:
    """The held account's wallet, opened in memory to sign."""
    with engine.connect() as conn:
        row = conn.execute(select(db.accounts).where(db.accounts.c.id == account)).mappings().one()
    if row["sealed_seed"] is None:
        raise AccountError(f"account {account} is self-custody: its owner signs", 409, "self_custody")
    sealed = Sealed(row["kek_id"], row["wrapped_key"], row["sealed_seed"])
    return Wallet.from_seed(custody.open_seed(kek, sealed, account))


def meter_index(xpub: str) -> int:
    """i of a meter key m/1'/i' a self-custody owner gives (depth 2, hardened)."""
    node = BIP32.from_xpub(_check_xpub(xpub, 2, "meter_xpub (of m/1'/i')"))
    if node.index < 2**31:
        raise AccountError("meter_xpub must be of m/1'/i': a hardened index")
    return int(node.index) - 2**31


def meter_xpub(engine: Engine, kek: Kek, account: str, meter: int) -> str:
    return wallet(engine, kek, account).meter_xpub(meter)


def rewrap_all(engine: Engine, old: Kek, new: Kek) -> int:
    """Every account's data key wrapped under `new`; all or nothing. The count re-wrapped."""
    with database.writes(engine) as conn:
        rows = conn.execute(select(db.accounts.c.id, db.accounts.c.kek_id, db.accounts.c.wrapped_key)).fetchall()
        for r in rows:
            wrapped = custody.rewrap(old, new, r.kek_id, r.wrapped_key, r.id)
            conn.execute(update(db.accounts).where(db.accounts.c.id == r.id).values(kek_id=new.key_id,
                                                                                   wrapped_key=wrapped))  # fmt: skip
    return len(rows)
