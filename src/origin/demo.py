"""The platform in one process, with demo data: a ledger holding a day of a small Danish
neighbourhood (solar, onshore and offshore wind, households) whose GGOs are split, retired
against consumption and traded on; a DataHub service importing a fake DataHub's synthetic
meters onto that ledger; all on SQLite files in one folder, served on one port:
the ledger at /, the DataHub service at /datahub, the fake DataHub at /fake-datahub."""

import json
import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import Mount

from origin.datahub import db, meters, service, synthetic
from origin.datahub.api import create_datahub_app
from origin.datahub.fake import REFRESH_TOKEN, create_fake_app
from origin.ledger import data as ledger_data
from origin.ledger.api import create_app
from origin.ledger.node import Node
from origin.ledger.workload import Workload
from origin.protocol.canonical import canonical
from origin.protocol.transactions import decode_batch
from origin.protocol.wallet import Wallet

LEDGER_ID = "origin.demo/dk"
KEYS_FILE = "demo-keys.json"
DATAHUB = "datahub"
IMPORT_EVERY_S = 300
LOOKBACK_S = 2 * 86400


def prepare(data: Path, url: str, echo=print):
    """Open the demo ledger in `data`, creating and filling it, and the DataHub service beside
    it, on first use; point the service at `url`, where the platform will be served."""
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
        store.close()
        datahub_owners = _datahub(data, issuer)
        _write_keys(data, issuer, workload, datahub_owners)
        echo(f"demo ledger created in {data}: {committed} batches, {transactions} transactions; "
             f"keys in {data / KEYS_FILE}")  # fmt: skip
    config_path = data / DATAHUB / service.CONFIG
    config = json.loads(config_path.read_text())
    config.update(ledger_url=url, datahub_url=f"{url}/fake-datahub")
    config_path.write_text(json.dumps(config, indent=2))
    return ledger_data.open_store(data)


def _datahub(data: Path, issuer: Wallet) -> dict[str, Wallet]:
    """The DataHub service, its meters the fake DataHub's, each owner's meter xpub given."""
    service.init(data / DATAHUB, ledger_url="", ledger_id=LEDGER_ID, datahub_url="", refresh_token=REFRESH_TOKEN,
                 issuer_key=issuer.private_key([]))  # fmt: skip
    config_path = data / DATAHUB / service.CONFIG
    config = json.loads(config_path.read_text())
    config.update(import_every_s=IMPORT_EVERY_S, lookback_s=LOOKBACK_S)
    config_path.write_text(json.dumps(config, indent=2))
    engine = db.connect(config["database"])
    owners: dict[str, Wallet] = {}
    for i, m in enumerate(synthetic.fleet()):
        wallet = owners.setdefault(m.owner, Wallet.generate())
        kind = synthetic.KINDS[m.kind]
        meters.register(engine, gsrn=m.gsrn, type="PRODUCTION" if kind[0] == "E18" else "CONSUMPTION",
                        sector=m.sector, owner=m.owner, tech_type=kind[1], fuel_type=kind[2],
                        meter_xpub=wallet.meter_xpub(i))  # fmt: skip
    engine.dispose()
    return owners


def platform_app(node, datahub_service) -> Starlette:
    return Starlette(routes=[
        Mount("/datahub", create_datahub_app(datahub_service.engine, datahub_service.authenticator)),
        Mount("/fake-datahub", create_fake_app()),
        Mount("/", create_app(node)),
    ])  # fmt: skip


def _write_keys(data: Path, issuer: Wallet, workload: Workload, datahub_owners: dict[str, Wallet]) -> None:
    keys = {
        "issuer": {"xprv": issuer.xprv, "public_key": issuer.public_key.hex()},
        "owners": {o.name: {"xprv": o.wallet.xprv, "receive_keys_used": o.next_receive}
                   for o in workload.owners},  # fmt: skip
        "meters": [{"owner": m.owner.name, "index": m.index, "kind": m.kind,
                    "sector": m.sector, "xpub": m.xpub} for m in workload.meters],  # fmt: skip
        "datahub_owners": {name: {"xprv": w.xprv} for name, w in datahub_owners.items()},
    }
    path = data / KEYS_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(keys, indent=2))
