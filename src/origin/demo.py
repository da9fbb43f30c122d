"""Demo data: a ledger with a day of a small Danish neighbourhood (solar, onshore and offshore
wind, households), its GGOs split, retired against consumption and traded on."""

import json
import os
from pathlib import Path

from origin.ledger import data as ledger_data
from origin.ledger.node import Node
from origin.ledger.workload import Workload
from origin.protocol.canonical import canonical
from origin.protocol.transactions import decode_batch
from origin.protocol.wallet import Wallet

LEDGER_ID = "origin.demo/dk"
KEYS_FILE = "demo-keys.json"


def prepare(data: Path, echo=print):
    """Open the demo ledger in `data`, creating and filling it on first use."""
    data = Path(data)
    if not (data / ledger_data.DATABASE).exists():
        issuer = Wallet.generate()
        ledger_data.init(data, LEDGER_ID, [issuer.public_key.hex()])
        store, signer = ledger_data.open_store(data)
        workload = Workload(LEDGER_ID, issuer.private_key([]), producers=3, consumers=4, hours=24)
        node = Node(store, signer)
        committed = transactions = 0
        for body in workload.batches(transactions_per_batch=50):
            (outcome,) = node.commit_group([decode_batch(canonical(body), LEDGER_ID)])
            if outcome.status != "COMMITTED":
                raise RuntimeError(f"demo batch refused: {outcome.error}")
            committed += 1
            transactions += len(body["transactions"])
        _write_keys(data, issuer, workload)
        echo(f"demo ledger created in {data}: {committed} batches, {transactions} transactions; "
             f"keys in {data / KEYS_FILE}")  # fmt: skip
        store.close()
    return ledger_data.open_store(data)


def _write_keys(data: Path, issuer: Wallet, workload: Workload) -> None:
    keys = {
        "issuer": {"xprv": issuer.xprv, "public_key": issuer.public_key.hex()},
        "owners": {o.name: {"xprv": o.wallet.xprv, "receive_keys_used": o.next_receive}
                   for o in workload.owners},  # fmt: skip
        "meters": [{"owner": m.owner.name, "index": m.index, "kind": m.kind,
                    "sector": m.sector, "xpub": m.xpub} for m in workload.meters],  # fmt: skip
    }
    path = data / KEYS_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(keys, indent=2))
