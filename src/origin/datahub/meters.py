"""Metering points, and who decides what about them. Nothing a meter's owner claims decides what
is certified:
- the DataHub says which meters exist, whose they are (the customer whose authorisation covers
  them), their type (`typeOfMP`), resolution, postcode (hence the sector) and the period the
  authorisation gives access to (`sync`);
- the issuing body sets the technology and fuel of production meters, may set the sector, may
  disable a meter, and releases one the ledger refused (quarantined);
- the owner gives the meter xpub of their wallet (m/1'/i'), once: the service never holds a
  private key.
A meter waiting for any of these is imported but not certified, and says why (`waiting_for`).
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bip32 import BIP32
from sqlalchemy import ColumnElement, and_, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from origin.datahub import COPENHAGEN
from origin.datahub import gsrn as gsrn_
from origin.datahub.db import measurements, meters
from origin.protocol import eecs, wallet
from origin.protocol.limits import LIST_LIMIT_MAX, SECTOR_LENGTH_MAX
from origin.protocol.transactions import CONSUMPTION, PRODUCTION

TYPES = {"E17": CONSUMPTION, "E18": PRODUCTION}
POSTCODE_DK2_BELOW = 5000  # Danish rule: postcodes below 5000 are east of the Great Belt
HARDENED = 2**31


class MeterError(ValueError):
    """A refused change; `status` is the HTTP status that fits, the message says why."""

    def __init__(self, message: str, status: int = 400, code: str = "invalid_meter"):
        super().__init__(message)
        self.status, self.code = status, code


def sector_of(postcode: object) -> str | None:
    """DK1 or DK2 from a Danish postcode (4 digits); None for anything else."""
    if not isinstance(postcode, str) or len(postcode) != 4 or not postcode.isascii() or not postcode.isdigit():
        return None
    return "DK2" if int(postcode) < POSTCODE_DK2_BELOW else "DK1"


def check_xpub(xpub: object) -> str:
    """A meter key's xpub: a BIP32 extended public key at depth 2 with a hardened index, as
    m/1'/i' is (an xprv is refused: the service holds no private key)."""
    if not isinstance(xpub, str) or not xpub.startswith(("xpub", "tpub")):
        raise MeterError("meter_xpub must be a BIP32 extended public key (xpub...), never a private one")
    try:
        node = BIP32.from_xpub(xpub)
    except Exception:  # the library raises several kinds for a bad encoding
        raise MeterError("meter_xpub is not a valid BIP32 extended public key") from None
    if node.depth != 2 or node.index < HARDENED:
        raise MeterError("meter_xpub must be the meter key m/1'/i': depth 2, a hardened index")
    return xpub


def waiting_for(meter: Mapping[str, Any], sectors: frozenset[str]) -> list[str]:
    """What the meter waits for before its measurements are certified; [] when nothing."""
    waits = []
    if meter["disabled"]:
        waits.append("the issuing body disabled it")
    if meter["quarantine"]:
        q = json.loads(meter["quarantine"])
        waits.append(f"the ledger refused it ({q['code']}: {q['message']}); the issuing body must release it")
    if not meter["meter_xpub"]:
        waits.append("its owner's meter xpub (m/1'/i')")
    if meter["sector"] not in sectors:
        waits.append(f"a sector the ledger has ({', '.join(sorted(sectors))}); it has {meter['sector']!r}")
    if meter["type"] == PRODUCTION and not meter["tech_type"]:
        waits.append("its technology and fuel, set by the issuing body")
    return waits


def ready(sectors: frozenset[str]) -> ColumnElement[bool]:
    """`waiting_for` as SQL: the meters whose measurements are certified."""
    return and_(meters.c.disabled.is_(False), meters.c.quarantine.is_(None), meters.c.meter_xpub.is_not(None),
                meters.c.sector.in_(sorted(sectors)),
                or_(meters.c.type == CONSUMPTION, meters.c.tech_type.is_not(None)))  # fmt: skip


def _moment(text: object) -> int | None:
    """Seconds of a DataHub date-time without a zone (Danish local time), or None."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.removesuffix("Z"))
    except ValueError:
        return None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=COPENHAGEN)).timestamp())


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # GSRN: why

    def lines(self) -> list[str]:
        out = [
            f"{len(self.added)} metering points added, {len(self.changed)} changed from the DataHub's authorisations"
        ]
        return out + [f"  skipped {s}" for s in self.skipped]


def sync(engine: Engine, datahub: Any) -> SyncReport:
    """Bring the meters in line with the DataHub: every metering point of every active
    authorisation, with what the DataHub says of it."""
    report = SyncReport()
    for authorization in datahub.authorizations():
        owner = authorization.get("customerKey") or authorization.get("customerCVR") or authorization["id"]
        for point in datahub.metering_points("authorizationId", authorization["id"]):
            with engine.begin() as conn:
                _upsert(conn, point, authorization, str(owner), report)
    return report


def _upsert(conn: Connection, point: Mapping[str, Any], authorization: Mapping[str, Any], owner: str,
            report: SyncReport) -> None:  # fmt: skip
    gsrn = str(point.get("meteringPointId"))
    try:
        gsrn_.validate(gsrn)
    except gsrn_.InvalidGSRN as exc:
        report.skipped.append(f"{gsrn!r}: {exc}")
        return
    type_ = TYPES.get(point.get("typeOfMP", ""))
    if type_ is None:
        report.skipped.append(f"{gsrn}: type of metering point {point.get('typeOfMP')!r} is neither E17 nor E18")
        return
    starts = [s for s in (_moment(authorization.get("validFrom")), _moment(point.get("accessFrom"))) if s is not None]
    ends = [s for s in (_moment(authorization.get("validTo")), _moment(point.get("accessTo"))) if s is not None]
    values = {"type": type_, "owner": owner, "authorization_id": authorization["id"],
              "resolution": point.get("meterReadingOccurrence"), "postcode": point.get("postcode"),
              "access_from_s": max(starts, default=None), "access_to_s": min(ends, default=None)}  # fmt: skip
    known = conn.execute(select(meters).where(meters.c.gsrn == gsrn)).mappings().first()
    if known is None:
        conn.execute(insert(meters).values(gsrn=gsrn, sector=sector_of(values["postcode"]), **values))
        report.added.append(gsrn)
        return
    if not known["sector_by_issuer"]:
        values["sector"] = sector_of(values["postcode"])
    if known["owner"] != owner:  # another customer now: their wallet, not the last owner's
        values["meter_xpub"] = None
    if any(known[k] != v for k, v in values.items()):
        conn.execute(update(meters).where(meters.c.gsrn == gsrn).values(**values))
        report.changed.append(gsrn)


def show(engine: Engine, gsrn: str, sectors: frozenset[str]) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(select(meters).where(meters.c.gsrn == gsrn)).mappings().first()
    if row is None:
        raise MeterError(f"no metering point {gsrn}", 404, "not_found")
    return _described(row, sectors)


def _described(row: Any, sectors: frozenset[str]) -> dict[str, Any]:
    described = {k: v for k, v in row.items() if k != "quarantine"}
    described["quarantine"] = json.loads(row["quarantine"]) if row["quarantine"] else None
    described["waiting_for"] = waiting_for(row, sectors)
    return described


def listed(engine: Engine, sectors: frozenset[str], owner: str | None = None, after: str = "",
           limit: int = LIST_LIMIT_MAX) -> tuple[list[dict[str, Any]], str | None]:  # fmt: skip
    """A page of meters in GSRN order after the cursor `after`, and the next page's cursor."""
    query = select(meters).where(meters.c.gsrn > after).order_by(meters.c.gsrn).limit(limit + 1)
    if owner is not None:
        query = query.where(meters.c.owner == owner)
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().fetchall()
    page = [_described(r, sectors) for r in rows[:limit]]
    return page, (page[-1]["gsrn"] if len(rows) > limit else None)


def _change(engine: Engine, gsrn: str, *conditions: ColumnElement[bool], **values: Any) -> None:
    with engine.begin() as conn:
        if conn.execute(update(meters).where(meters.c.gsrn == gsrn, *conditions).values(**values)).rowcount != 1:
            exists = conn.execute(select(meters.c.gsrn).where(meters.c.gsrn == gsrn)).first()
            if exists is None:
                raise MeterError(f"no metering point {gsrn}", 404, "not_found")
            raise MeterError(f"metering point {gsrn} cannot be changed so: see its current state", 409, "conflict")


def set_xpub(engine: Engine, gsrn: str, xpub: str, owner: str | None) -> int:
    """The owner gives their meter xpub, once (`owner` None: the issuing body, for a migration);
    the measurements imported without one get their addresses. How many it addressed."""
    view = BIP32.from_xpub(check_xpub(xpub))
    with engine.connect() as conn:
        row = conn.execute(select(meters.c.owner, meters.c.meter_xpub).where(meters.c.gsrn == gsrn)).first()
    if row is None or (owner is not None and row.owner != owner):
        raise MeterError(f"no metering point {gsrn} of yours", 404, "not_found")
    if row.meter_xpub is not None:
        raise MeterError(f"metering point {gsrn} has its xpub already: it is given once", 409, "conflict")
    try:
        with engine.begin() as conn:
            conn.execute(update(meters).where(meters.c.gsrn == gsrn).values(meter_xpub=xpub))
            waiting = conn.execute(select(measurements.c.begin_s).where(
                measurements.c.gsrn == gsrn, measurements.c.address.is_(None))).fetchall()  # fmt: skip
            for r in waiting:
                conn.execute(update(measurements).where(measurements.c.gsrn == gsrn, measurements.c.begin_s == r.begin_s)
                             .values(address=wallet.measurement_address(view, r.begin_s)))  # fmt: skip
    except IntegrityError:
        raise MeterError("that xpub is another meter's: each meter has its own key", 409, "conflict") from None
    return len(waiting)


def set_technology(engine: Engine, gsrn: str, tech_type: str, fuel_type: str) -> None:
    """The issuing body's EECS technology and fuel of a production meter."""
    why = eecs.check_pair(tech_type, fuel_type)
    if why:
        raise MeterError(f"a production meter needs a permitted EECS technology and fuel: {why}")
    _change(engine, gsrn, meters.c.type == PRODUCTION, tech_type=tech_type, fuel_type=fuel_type)


def set_sector(engine: Engine, gsrn: str, sector: str) -> None:
    """The issuing body's sector, over the one the postcode gives."""
    if not isinstance(sector, str) or not 0 < len(sector) <= SECTOR_LENGTH_MAX:
        raise MeterError(f"sector must be a name of 1 to {SECTOR_LENGTH_MAX} characters")
    _change(engine, gsrn, sector=sector, sector_by_issuer=True)


def set_disabled(engine: Engine, gsrn: str, disabled: bool) -> None:
    _change(engine, gsrn, disabled=disabled)


def release(engine: Engine, gsrn: str) -> None:
    """The issuing body has fixed what made the ledger refuse the meter: it is tried again."""
    _change(engine, gsrn, meters.c.quarantine.is_not(None), quarantine=None)


def quarantine(conn: Connection, gsrn: str, code: str, message: str) -> None:
    conn.execute(update(meters).where(meters.c.gsrn == gsrn)
                 .values(quarantine=json.dumps({"code": code, "message": message})))  # fmt: skip
