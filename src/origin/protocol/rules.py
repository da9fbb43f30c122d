"""The ledger rules of PROTOCOL.md section 6: one handler per transaction type.

Pure: a handler reads records through `State.get`, checks every rule of its type in the order
PROTOCOL.md lists them, and writes through `State.put`. `apply_batch` runs a batch in order,
each transaction seeing the effects of those before it; the first refusal makes the whole batch
INVALID with its code and the transaction's index, and nothing of it is written.
"""

from collections.abc import Callable, Sequence
from typing import Any

from origin.protocol import addresses
from origin.protocol.addresses import GGO, MEASUREMENT, SETTLEMENT
from origin.protocol.errors import ProtocolError
from origin.protocol.genesis import Config
from origin.protocol.limits import PARTS_MAX, SPLIT_PARTS_MIN
from origin.protocol.times import parse_time
from origin.protocol.transactions import CONSUMPTION, PRODUCTION, Batch, Transaction

Record = dict[str, Any]
Read = Callable[[str], Record | None]


class State:
    """Records as a batch sees them: its own writes over what `read` finds."""

    def __init__(self, read: Read):
        self._read = read
        self.writes: dict[str, Record] = {}

    def get(self, address: str) -> Record | None:
        if address in self.writes:
            return self.writes[address]
        return self._read(address)

    def put(self, address: str, record: Record) -> None:
        self.writes[address] = record


class Pairing:
    """Retirements in a batch and the settlement updates that list them."""

    def __init__(self) -> None:
        self.index = 0  # of the transaction being applied
        self.retired: dict[str, int] = {}  # GGO address -> index of its retire_ggo
        self.listed: set[str] = set()


def _refuse(code: str, message: str) -> ProtocolError:
    return ProtocolError(code, message)


def _namespace(namespace: str, address: str, field: str) -> None:
    if addresses.namespace_of(address) != namespace:
        raise _refuse("wrong_namespace", f"{field} {address} is not in the {namespace} namespace")


def _empty(state: State, address: str, field: str) -> None:
    if state.get(address) is not None:
        raise _refuse("address_in_use", f"{field} {address} already holds a record")


def _existing(state: State, address: str, what: str) -> Record:
    record = state.get(address)
    if record is None:
        raise _refuse("not_found", f"no {what} at {address}")
    return record


def _issuer(tx: Transaction, config: Config) -> None:
    if tx.signer not in config.issuers:
        raise _refuse("unauthorized", f"signer {tx.signer_hex} is not an issuer of this ledger")


def publish_measurement(tx: Transaction, state: State, config: Config, now_s: int, pairing: Pairing) -> None:
    p = tx.payload
    _issuer(tx, config)
    _namespace(MEASUREMENT, p["address"], "address")
    _empty(state, p["address"], "address")
    begin_s, end_s = parse_time(p["begin"]), parse_time(p["end"])
    period_s = end_s - begin_s
    if period_s not in config.resolutions_s or begin_s % period_s != 0:
        raise _refuse(
            "invalid_period",
            f"{p['begin']} to {p['end']} is not a period of {sorted(config.resolutions_s)} "
            "seconds aligned to its length",
        )
    if p["sector"] not in config.sectors:
        raise _refuse("unknown_sector", f"sector {p['sector']!r} is not one of {sorted(config.sectors)}")
    if p["amount"] > config.amount_max_wh:
        raise _refuse("invalid_amount", f"amount {p['amount']} Wh is over {config.amount_max_wh} Wh")
    state.put(p["address"], {k: p[k] for k in ("begin", "end", "sector", "type", "amount")})


def issue_ggo(tx: Transaction, state: State, config: Config, now_s: int, pairing: Pairing) -> None:
    p = tx.payload
    _issuer(tx, config)
    _namespace(MEASUREMENT, p["measurement"], "measurement")
    measurement = _existing(state, p["measurement"], "measurement")
    if measurement["type"] != PRODUCTION:
        raise _refuse("not_production", f"measurement {p['measurement']} is not PRODUCTION")
    if measurement["amount"] <= 0:
        raise _refuse("invalid_amount", "a GGO is issued only from a measurement of more than 0 Wh")
    _namespace(GGO, p["address"], "address")
    if addresses.key_part(p["address"]) != addresses.key_part(p["measurement"]):
        raise _refuse("key_mismatch", "a GGO is issued at its measurement's key part")
    _empty(state, p["address"], "address")
    state.put(
        p["address"],
        {
            "origin": p["measurement"],
            "begin": measurement["begin"],
            "end": measurement["end"],
            "amount": measurement["amount"],
            "sector": measurement["sector"],
            "tech_type": p["tech_type"],
            "fuel_type": p["fuel_type"],
            "next": None,
        },
    )


def _spend(tx: Transaction, state: State, config: Config, now_s: int) -> Record:
    """The spend rules shared by transfer, split and retire; the GGO about to be spent."""
    address = tx.payload["ggo"]
    _namespace(GGO, address, "ggo")
    ggo = _existing(state, address, "GGO")
    if addresses.address(GGO, tx.signer) != address:
        raise _refuse("not_owner", f"signer {tx.signer_hex} does not own GGO {address}")
    if ggo["next"] is not None:
        raise _refuse("already_used", f"GGO {address} was already used ({ggo['next']['action']})")
    if now_s >= parse_time(ggo["end"]) + config.ggo_lifetime_s:
        raise _refuse("expired", f"GGO {address} expired {config.ggo_lifetime_s} s after {ggo['end']}")
    return ggo


def _child(ggo: Record, origin: str, amount: int) -> Record:
    return {**ggo, "origin": origin, "amount": amount, "next": None}


def transfer_ggo(tx: Transaction, state: State, config: Config, now_s: int, pairing: Pairing) -> None:
    p = tx.payload
    ggo = _spend(tx, state, config, now_s)
    _namespace(GGO, p["to"], "to")
    _empty(state, p["to"], "to")
    state.put(p["ggo"], {**ggo, "next": {"action": "TRANSFER", "addresses": [p["to"]]}})
    state.put(p["to"], _child(ggo, p["ggo"], ggo["amount"]))


def split_ggo(tx: Transaction, state: State, config: Config, now_s: int, pairing: Pairing) -> None:
    p = tx.payload
    ggo = _spend(tx, state, config, now_s)
    parts = p["parts"]
    if not SPLIT_PARTS_MIN <= len(parts) <= PARTS_MAX:
        raise _refuse("invalid_parts", f"a split has {SPLIT_PARTS_MIN} to {PARTS_MAX} parts, not {len(parts)}")
    if any(part["amount"] < 1 for part in parts):
        raise _refuse("invalid_amount", "every part of a split is at least 1 Wh")
    targets = [part["address"] for part in parts]
    if len(set(targets)) != len(targets):
        raise _refuse("duplicate_address", "the parts of a split go to distinct addresses")
    for target in targets:
        _namespace(GGO, target, "part")
        _empty(state, target, "part")
    total = sum(part["amount"] for part in parts)
    if total != ggo["amount"]:
        raise _refuse("amount_mismatch", f"the parts sum to {total} Wh, the GGO holds {ggo['amount']} Wh")
    state.put(p["ggo"], {**ggo, "next": {"action": "SPLIT", "addresses": targets}})
    for part in parts:
        state.put(part["address"], _child(ggo, p["ggo"], part["amount"]))


def retire_ggo(tx: Transaction, state: State, config: Config, now_s: int, pairing: Pairing) -> None:
    p = tx.payload
    ggo = _spend(tx, state, config, now_s)
    _namespace(SETTLEMENT, p["settlement"], "settlement")
    state.put(p["ggo"], {**ggo, "next": {"action": "RETIRE", "addresses": [p["settlement"]]}})
    pairing.retired[p["ggo"]] = pairing.index


def update_settlement(tx: Transaction, state: State, config: Config, now_s: int, pairing: Pairing) -> None:
    p = tx.payload
    _namespace(MEASUREMENT, p["measurement"], "measurement")
    measurement = _existing(state, p["measurement"], "measurement")
    if measurement["type"] != CONSUMPTION:
        raise _refuse("not_consumption", f"measurement {p['measurement']} is not CONSUMPTION")
    if addresses.address(MEASUREMENT, tx.signer) != p["measurement"]:
        raise _refuse("not_owner", f"signer {tx.signer_hex} does not own measurement {p['measurement']}")
    _namespace(SETTLEMENT, p["settlement"], "settlement")
    if addresses.key_part(p["settlement"]) != addresses.key_part(p["measurement"]):
        raise _refuse("key_mismatch", "a settlement is at its measurement's key part")
    ggos = p["ggos"]
    if not 1 <= len(ggos) <= PARTS_MAX:
        raise _refuse("invalid_parts", f"a settlement update lists 1 to {PARTS_MAX} GGOs, not {len(ggos)}")
    if len(set(ggos)) != len(ggos):
        raise _refuse("duplicate_address", "a settlement update lists each GGO once")
    settlement = state.get(p["settlement"]) or {"measurement": p["measurement"], "parts": []}
    parts = list(settlement["parts"])
    already = {part["ggo"] for part in parts}
    total = sum(part["amount"] for part in parts)
    retirement = {"action": "RETIRE", "addresses": [p["settlement"]]}
    for address in ggos:
        _namespace(GGO, address, "ggo")
        ggo = _existing(state, address, "GGO")
        if ggo["next"] != retirement:
            raise _refuse("not_retired", f"GGO {address} is not retired to {p['settlement']}")
        if address in already:
            raise _refuse("duplicate_address", f"GGO {address} is already part of the settlement")
        if (ggo["begin"], ggo["end"]) != (measurement["begin"], measurement["end"]):
            raise _refuse("period_mismatch", f"GGO {address} is not of the measurement's period")
        if ggo["sector"] != measurement["sector"]:
            raise _refuse("sector_mismatch", f"GGO {address} is not of the measurement's sector")
        total += ggo["amount"]
        parts.append({"ggo": address, "amount": ggo["amount"]})
    if total > measurement["amount"]:
        raise _refuse(
            "over_retired",
            f"{total} Wh would be retired to a consumption of {measurement['amount']} Wh",
        )
    state.put(p["settlement"], {"measurement": p["measurement"], "parts": parts})
    pairing.listed.update(ggos)


def addresses_named(batch: Batch) -> set[str]:
    """Every address a batch's payloads name: all that its rules can read."""
    found: set[str] = set()
    for tx in batch.transactions:
        if isinstance(tx, Transaction):
            stack = list(tx.payload.values())
            while stack:
                value = stack.pop()
                if isinstance(value, str):
                    if addresses.is_address(value):
                        found.add(value)
                elif isinstance(value, dict):
                    stack.extend(value.values())
                elif isinstance(value, list):
                    stack.extend(value)
    return found


HANDLERS: dict[str, Callable[[Transaction, State, Config, int, Pairing], None]] = {
    "publish_measurement": publish_measurement,
    "issue_ggo": issue_ggo,
    "transfer_ggo": transfer_ggo,
    "split_ggo": split_ggo,
    "retire_ggo": retire_ggo,
    "update_settlement": update_settlement,
}


def written(tx: Transaction) -> set[str]:
    """The addresses a transaction writes, if the rules accept it."""
    p = tx.payload
    if tx.type in ("publish_measurement", "issue_ggo"):
        return {p["address"]}
    if tx.type == "update_settlement":
        return {p["settlement"]}
    spent = {p["ggo"]}
    if tx.type == "transfer_ggo":
        return spent | {p["to"]}
    if tx.type == "split_ggo":
        return spent | {part["address"] for part in p["parts"]}
    return spent


def apply_transaction(tx: Transaction, index: int, state: State, config: Config, now_s: int,
                      pairing: Pairing) -> None:  # fmt: skip
    """Apply one transaction of a batch, at `index`, under its type's handler."""
    pairing.index = index
    try:
        HANDLERS[tx.type](tx, state, config, now_s, pairing)
    except ProtocolError as exc:
        raise exc.at(index) from None


def check_pairing(pairing: Pairing) -> None:
    """After a batch: every retirement is listed by an update of its settlement in it."""
    for ggo, index in pairing.retired.items():
        if ggo not in pairing.listed:
            raise ProtocolError(
                "unpaired_retire",
                f"GGO {ggo} is retired without an update_settlement that lists it in this batch",
                index,
            )


def apply_batch(
    batch: Batch, signatures_valid: Sequence[bool], config: Config, read: Read, now_s: int
) -> dict[str, Record]:
    """The records a batch writes, or ProtocolError with the failing transaction's index.

    `signatures_valid[i]` says whether transaction i's signature verified; decoding errors are
    in the batch itself. Checks run transaction by transaction, so the error is always the
    first one in batch order, whether it is malformed, a bad signature or a broken rule.
    """
    if batch.error is not None:
        raise batch.error
    state, pairing = State(read), Pairing()
    for index, tx in enumerate(batch.transactions):
        if isinstance(tx, ProtocolError):
            raise tx
        if not signatures_valid[index]:
            raise ProtocolError("bad_signature", "the signature does not verify", index)
        apply_transaction(tx, index, state, config, now_s, pairing)
    check_pairing(pairing)
    return state.writes
