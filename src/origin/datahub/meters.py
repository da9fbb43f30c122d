"""Metering points: registered with their GSRN, type, sector, EECS codes (production), owner,
and the owner's meter xpub (m/1'/i'). The service never holds an owner's private key."""

from bip32 import BIP32
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from origin.datahub import gsrn as gsrn_
from origin.datahub.db import measurements, meters
from origin.protocol import eecs, wallet
from origin.protocol.limits import SECTOR_LENGTH_MAX
from origin.protocol.transactions import CONSUMPTION, PRODUCTION

OWNER_LENGTH_MAX = 200


class MeterError(ValueError):
    """A refused registration; the message says why."""


def check_xpub(xpub) -> str:
    """A BIP32 extended public key (an xprv is refused: the service holds no private key)."""
    if not isinstance(xpub, str) or not xpub.startswith(("xpub", "tpub")):
        raise MeterError("meter_xpub must be a BIP32 extended public key (xpub...), never a private one")
    try:
        BIP32.from_xpub(xpub)
    except Exception:  # the library raises several kinds for a bad encoding
        raise MeterError("meter_xpub is not a valid BIP32 extended public key") from None
    return xpub


def register(engine: Engine, *, gsrn, type, sector, owner, tech_type=None, fuel_type=None, meter_xpub=None) -> dict:
    try:
        gsrn_.validate(gsrn)
    except gsrn_.InvalidGSRN as exc:
        raise MeterError(str(exc)) from None
    if type not in (PRODUCTION, CONSUMPTION):
        raise MeterError(f"type must be {PRODUCTION} or {CONSUMPTION}")
    if not isinstance(sector, str) or not 0 < len(sector) <= SECTOR_LENGTH_MAX:
        raise MeterError(f"sector must be a name of 1 to {SECTOR_LENGTH_MAX} characters")
    if not isinstance(owner, str) or not 0 < len(owner) <= OWNER_LENGTH_MAX:
        raise MeterError(f"owner must be a name of 1 to {OWNER_LENGTH_MAX} characters")
    if type == PRODUCTION:
        why = eecs.check_pair(tech_type, fuel_type)
        if why:
            raise MeterError(f"a production meter needs a permitted EECS technology and fuel: {why}")
    elif tech_type is not None or fuel_type is not None:
        raise MeterError("a consumption meter has no technology or fuel")
    if meter_xpub is not None:
        check_xpub(meter_xpub)
    row = {"gsrn": gsrn, "type": type, "sector": sector, "owner": owner, "tech_type": tech_type,
           "fuel_type": fuel_type, "meter_xpub": meter_xpub}  # fmt: skip
    try:
        with engine.begin() as conn:
            conn.execute(insert(meters).values(**row))
    except IntegrityError:
        raise MeterError(f"metering point {gsrn} is registered already") from None
    return row


def set_xpub(engine: Engine, gsrn: str, xpub: str) -> int:
    """Give a meter its owner's xpub; the measurements imported without one get their addresses,
    and the next import publishes them. How many it addressed."""
    view = BIP32.from_xpub(check_xpub(xpub))
    with engine.begin() as conn:
        if conn.execute(update(meters).where(meters.c.gsrn == gsrn, meters.c.meter_xpub.is_(None))
                        .values(meter_xpub=xpub)).rowcount != 1:  # fmt: skip
            raise MeterError(f"metering point {gsrn} is not registered, or has an xpub already")
        waiting = conn.execute(select(measurements.c.begin_s).where(measurements.c.gsrn == gsrn,
                                                                    measurements.c.address.is_(None))).fetchall()  # fmt: skip
        for row in waiting:
            conn.execute(update(measurements).where(measurements.c.gsrn == gsrn, measurements.c.begin_s == row.begin_s)
                         .values(address=wallet.measurement_address(view, row.begin_s)))  # fmt: skip
    return len(waiting)


def listed(engine: Engine, owner: str | None = None) -> list[dict]:
    query = select(meters).order_by(meters.c.gsrn)
    if owner is not None:
        query = query.where(meters.c.owner == owner)
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]
