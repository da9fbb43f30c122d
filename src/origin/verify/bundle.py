"""The offline verifier of provenance bundles (ledger/provenance.py): with no network and no
trust in the node, it checks the checkpoint's signature (and witnesses' cosignatures), every
inclusion proof, every signature in the entries, that the issuers are the genesis's, and that
the chain's records follow PROTOCOL.md's rules -- by applying the ledger's own rule handlers to
the chain's transactions, in log order. Any failure is a VerifyError that names what failed.

What a bundle cannot show: that no entry after the ones it holds spent the GGO. Witnesses, who
replay the whole log and cosign its checkpoints, vouch for that.
"""

import base64
import binascii
from dataclasses import dataclass, field

from origin.ledger import rules
from origin.ledger.genesis import parse_genesis
from origin.ledger.provenance import FORMAT
from origin.protocol import addresses, eecs, merkle, note
from origin.protocol.addresses import GGO, MEASUREMENT, SETTLEMENT
from origin.protocol.canonical import canonical
from origin.protocol.errors import ProtocolError
from origin.protocol.times import parse_time
from origin.protocol.transactions import Transaction, decode_batch, verify_signatures


class VerifyError(Exception):
    """The bundle does not prove what it claims; the message says what failed."""


@dataclass
class Hop:
    action: str  # ISSUE, TRANSFER, SPLIT or RETIRE
    address: str
    amount: int
    seq: int
    time: str


@dataclass
class Summary:
    ggo: str
    ledger: str
    checkpoint_size: int
    issuer: str
    measurement: dict
    tech_type: str
    fuel_type: str
    hops: list[Hop] = field(default_factory=list)
    retired_to: str | None = None
    consumption: str | None = None
    spent: str | None = None  # the action that used the GGO, if any
    witnesses: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        m = self.measurement
        out = [
            f"GGO {self.ggo}",
            f"  {m['amount']} Wh produced {m['begin']} to {m['end']} in {m['sector']}",
            f"  technology {self.tech_type} ({eecs.tech_label(self.tech_type) or 'unknown code'}), "
            f"fuel {self.fuel_type} ({eecs.fuel_label(self.fuel_type) or 'unknown code'})",
            f"  issued by {self.issuer}, an issuer of ledger {self.ledger}",
        ]
        for hop in self.hops:
            out.append(f"  {hop.time}  entry {hop.seq:>6}  {hop.action:<8} {hop.amount} Wh -> {hop.address}")
        if self.retired_to:
            out.append(f"  RETIRED to settlement {self.retired_to} of consumption {self.consumption}")
        elif self.spent:
            out.append(f"  used: {self.spent} (see the entries above)")
        else:
            out.append(f"  not used in any entry of this bundle (log size {self.checkpoint_size})")
        out.append(f"  checkpoint of size {self.checkpoint_size} signed by the log key"
                   + (f", cosigned by {', '.join(self.witnesses)}" if self.witnesses else ""))  # fmt: skip
        return out


def _fail(message: str) -> VerifyError:
    return VerifyError(message)


def verify_bundle(bundle, log_key: note.Verifier, witness_keys=()) -> Summary:
    if type(bundle) is not dict or bundle.get("format") != FORMAT:
        raise _fail(f"not a provenance bundle of format {FORMAT}")
    if bundle.keys() != {"format", "ggo", "checkpoint", "entries"} or not addresses.is_address(bundle["ggo"]):
        raise _fail("a bundle has exactly format, ggo, checkpoint and entries")
    target = bundle["ggo"]

    # 1. The checkpoint: signed by the log key, and cosigned by each witness asked for.
    try:
        text = note.open_note(bundle["checkpoint"], log_key, *witness_keys)
        checkpoint = note.Checkpoint.parse(text)
    except note.NoteError as exc:
        raise _fail(f"checkpoint: {exc}") from None
    if checkpoint.origin != log_key.name:
        raise _fail(f"checkpoint is of log {checkpoint.origin!r}, not {log_key.name!r}")

    # 2. Every entry is in the log the checkpoint commits to.
    entries: dict[int, dict] = {}
    for item in bundle["entries"]:
        if type(item) is not dict or item.keys() != {"seq", "entry", "proof"} or type(item["seq"]) is not int:
            raise _fail("an entry item has exactly seq, entry and proof")
        seq = item["seq"]
        try:
            proof = [base64.b64decode(h, validate=True) for h in item["proof"]]
            leaf = merkle.leaf_hash(canonical(item["entry"]))
        except (binascii.Error, TypeError, ProtocolError):
            raise _fail(f"entry {seq}: not well encoded") from None
        if type(item["entry"]) is not dict or item["entry"].get("seq") != seq or seq in entries:
            raise _fail(f"entry {seq}: its seq does not match, or it appears twice")
        if not merkle.verify_inclusion(leaf, seq, checkpoint.size, proof, checkpoint.root):
            raise _fail(f"entry {seq}: its inclusion proof does not verify against the checkpoint")
        entries[seq] = item["entry"]

    # 3. The genesis: the issuers, and the log key the caller trusts.
    if 0 not in entries or "genesis" not in entries[0]:
        raise _fail("entry 0, the genesis, is missing")
    try:
        config = parse_genesis(entries[0]["genesis"])
    except ProtocolError as exc:
        raise _fail(f"entry 0: {exc.message}") from None
    if config.genesis["log_key"] != str(log_key):
        raise _fail("the genesis names another log key than the one given")

    # 4. Every signature in every entry.
    transactions = []  # (seq, time, tx) in log order
    for seq in sorted(entries)[1:]:
        entry = entries[seq]
        try:
            batch = decode_batch(canonical(entry["batch"]), config.ledger)
            time_s = parse_time(entry["time"])
        except (ProtocolError, KeyError, TypeError):
            raise _fail(f"entry {seq}: not a batch entry") from None
        for index, (tx, valid) in enumerate(zip(batch.transactions, verify_signatures(batch.transactions), strict=True)):
            if not isinstance(tx, Transaction) or not valid:
                raise _fail(f"entry {seq}, transaction {index}: its signature does not verify")
            transactions.append((seq, entry["time"], time_s, tx))

    # 5. The chain, under the ledger's own rules.
    return _check_chain(target, transactions, config, checkpoint, [k.name for k in witness_keys])


def _check_chain(target, transactions, config, checkpoint, witnesses) -> Summary:
    chain = _ancestry(target, transactions)
    measurement = chain[0]
    chain_set = set(chain)
    state = rules.State(lambda address: None)
    hops: list[Hop] = []
    spend = None
    for seq, time_text, time_s, tx in transactions:
        p = tx.payload
        spent = p.get("ggo") if tx.type in ("transfer_ggo", "split_ggo", "retire_ggo") else None
        if tx.type == "update_settlement":
            continue  # checked with its retirement below
        creates_chain = (p.get("address") in chain_set or p.get("to") in chain_set
                         or any(part["address"] in chain_set for part in p.get("parts", [])))  # fmt: skip
        if not creates_chain and spent not in chain_set:
            continue
        try:
            rules.HANDLERS[tx.type](tx, state, config, time_s, rules.Pairing())
        except ProtocolError as exc:
            raise _fail(f"entry {seq}: {tx.type} breaks the rule {exc.code}: {exc.message}") from None
        if spent == target:
            spend = (seq, time_text, tx)
        if tx.type == "issue_ggo" and p["address"] in chain_set:
            hops.append(Hop("ISSUE", p["address"], state.get(p["address"])["amount"], seq, time_text))
        for child in chain_set & {p.get("to"), *(part["address"] for part in p.get("parts", []))}:
            hops.append(Hop(tx.type.split("_")[0].upper(), child, state.get(child)["amount"], seq, time_text))

    record = state.get(target)
    if record is None:
        raise _fail(f"the bundle's entries do not create GGO {target}")
    m = state.get(measurement)
    summary = Summary(
        ggo=target, ledger=config.ledger, checkpoint_size=checkpoint.size,
        issuer=next(tx.signer_hex for _, _, _, tx in transactions
                    if tx.type == "issue_ggo" and tx.payload["address"] == chain[1]),
        measurement=m, tech_type=record["tech_type"], fuel_type=record["fuel_type"],
        hops=hops, witnesses=witnesses)  # fmt: skip
    if spend is not None:
        summary.spent = spend[2].type
        if spend[2].type == "retire_ggo":
            _check_settlement(target, record, spend, transactions, summary)
    return summary


def _ancestry(target: str, transactions) -> list[str]:
    """[measurement, issued GGO, ..., target], from the transactions that create each."""
    creators = {}
    for _, _, _, tx in transactions:
        p = tx.payload
        if tx.type == "issue_ggo":
            creators[p["address"]] = p["measurement"]
        elif tx.type == "transfer_ggo":
            creators[p["to"]] = p["ggo"]
        elif tx.type == "split_ggo":
            creators.update({part["address"]: p["ggo"] for part in p["parts"]})
    chain, address = [target], target
    while addresses.namespace_of(address) == GGO:
        if address not in creators:
            raise _fail(f"no entry in the bundle creates {address}: an entry is missing")
        address = creators[address]
        if address in chain:
            raise _fail("the chain of origins loops")
        chain.append(address)
    chain.reverse()
    return chain


def _check_settlement(target, record, spend, transactions, summary) -> None:
    """A retirement is paired, in its entry, with an update of that settlement that lists the
    GGO, signed by the owner of a consumption measurement of the same period and sector."""
    seq, _, retire = spend
    settlement = retire.payload["settlement"]
    update = next((tx for s, _, _, tx in transactions if s == seq and tx.type == "update_settlement"
                   and tx.payload["settlement"] == settlement and target in tx.payload["ggos"]), None)  # fmt: skip
    if update is None:
        raise _fail(f"entry {seq}: the retirement has no settlement update listing the GGO")
    consumption = update.payload["measurement"]
    published = next((tx for _, _, _, tx in transactions
                      if tx.type == "publish_measurement" and tx.payload["address"] == consumption), None)  # fmt: skip
    if published is None:
        raise _fail(f"the publication of consumption measurement {consumption} is missing")
    c = published.payload
    checks = [
        (addresses.namespace_of(settlement) == SETTLEMENT
         and addresses.key_part(settlement) == addresses.key_part(consumption), "key_mismatch"),
        (addresses.address(MEASUREMENT, update.signer) == consumption, "not_owner"),
        (c["type"] == "CONSUMPTION", "not_consumption"),
        ((c["begin"], c["end"]) == (record["begin"], record["end"]), "period_mismatch"),
        (c["sector"] == record["sector"], "sector_mismatch"),
        (record["amount"] <= c["amount"], "over_retired"),
    ]  # fmt: skip
    for ok, code in checks:
        if not ok:
            raise _fail(f"entry {seq}: the settlement update breaks the rule {code}")
    summary.retired_to, summary.consumption = settlement, consumption
