"""The platform in one process, with demo data: a ledger and a DataHub service importing a fake
DataHub's synthetic meters (solar, onshore and offshore wind, households, a factory) onto it;
once the first import is in, the meters' owners trade the day's GGOs (split between a household
and a trader, retired against the household's consumption, passed on), as `origin.trading`
has them. All on SQLite files in one folder, served on one port: the ledger at /, the DataHub
service at /datahub, the fake DataHub at /fake-datahub."""

import json
import logging
import os
from pathlib import Path

from bip32 import BIP32
from starlette.applications import Starlette
from starlette.routing import Mount

from origin.datahub import db, meters, service, synthetic
from origin.datahub.api import create_datahub_app
from origin.datahub.fake import PREFIX, REFRESH_TOKEN, create_fake_app
from origin.ledger import data as ledger_data
from origin.ledger.api import create_app
from origin.ledger.node import Node
from origin.protocol import addresses, wallet
from origin.protocol.addresses import GGO
from origin.protocol.canonical import canonical
from origin.protocol.keys import public_key
from origin.protocol.transactions import decode_batch
from origin.protocol.wallet import Wallet
from origin.trading import Consumption, Issued, pack, trades

LEDGER_ID = "origin.demo/dk"
KEYS_FILE = "demo-keys.json"
TRADED_FILE = "traded"
DATAHUB = "datahub"
IMPORT_EVERY_S = 300
LOOKBACK_S = 2 * 86400
HOUR_S = 3600
TRADER = "trader"
RESOLUTION_S = {"PT1H": 3600, "PT15M": 900}

logger = logging.getLogger("origin.demo")


def prepare(data: Path, url: str, echo=print):
    """Open the demo ledger in `data`, creating it and the DataHub service beside it on first
    use; point the service at `url`, where the platform will be served."""
    data = Path(data)
    if not (data / ledger_data.DATABASE).exists():
        issuer = Wallet.generate()
        ledger_data.init(data, LEDGER_ID, [issuer.public_key.hex()])
        owners = _datahub(data, issuer)
        _write_keys(data, issuer, owners)
        echo(f"demo ledger created in {data}; keys in {data / KEYS_FILE}")
    config_path = data / DATAHUB / service.CONFIG
    config = json.loads(config_path.read_text())
    config.update(ledger_url=url, datahub_url=f"{url}/fake-datahub{PREFIX}")
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
    owners: dict[str, Wallet] = {TRADER: Wallet.generate()}
    for i, m in enumerate(synthetic.fleet()):
        owner = owners.setdefault(m.owner, Wallet.generate())
        kind = synthetic.KINDS[m.kind]
        meters.register(engine, gsrn=m.gsrn, type="PRODUCTION" if kind[0] == "E18" else "CONSUMPTION",
                        sector=m.sector, owner=m.owner, tech_type=kind[1], fuel_type=kind[2],
                        meter_xpub=owner.meter_xpub(i))  # fmt: skip
    engine.dispose()
    return owners


def platform_app(node: Node, datahub_service: service.Service) -> Starlette:
    return Starlette(routes=[
        Mount("/datahub", create_datahub_app(datahub_service.engine, datahub_service.authenticator)),
        Mount("/fake-datahub", create_fake_app()),
        Mount("/", create_app(node)),
    ])  # fmt: skip


def _write_keys(data: Path, issuer: Wallet, owners: dict[str, Wallet]) -> None:
    keys = {
        "issuer": {"xprv": issuer.xprv, "public_key": issuer.public_key.hex()},
        "owners": {name: {"xprv": w.xprv, "receive_keys_used": 0} for name, w in owners.items()},
    }
    service.write_private(data / KEYS_FILE, json.dumps(keys, indent=2))


def trade_once(data: Path, node: Node, now_s: int) -> None:
    """The owners trade the GGOs of the last day's imported hours, once per demo folder."""
    data = Path(data)
    if (data / TRADED_FILE).exists():
        return
    keys = json.loads((data / KEYS_FILE).read_text())
    owners = {name: Wallet.from_xprv(k["xprv"]) for name, k in keys["owners"].items()}
    used = {name: k["receive_keys_used"] for name, k in keys["owners"].items()}

    def receiver(name: str):
        def receive() -> tuple[bytes, str]:
            key = owners[name].receive_key(used[name])
            used[name] += 1
            return key, addresses.address(GGO, public_key(key))

        return receive

    issued, consumption = _holdings(node, owners, receiver, now_s)
    committed = 0
    for body in pack(trades(LEDGER_ID, issued, consumption, receiver(TRADER)), 200):
        outcome = node.submit(decode_batch(canonical(body), LEDGER_ID)).result()
        if outcome.status != "COMMITTED":
            raise RuntimeError(f"a demo trade was refused: {outcome.error}")
        committed += 1
    for name, n in used.items():
        keys["owners"][name]["receive_keys_used"] = n
    new = data / f"{KEYS_FILE}.new"
    new.unlink(missing_ok=True)
    service.write_private(new, json.dumps(keys, indent=2))
    os.replace(new, data / KEYS_FILE)
    (data / TRADED_FILE).write_text(f"{committed} batches\n")
    logger.info("demo owners traded %d GGOs in %d batches", len(issued), committed)


def _holdings(node: Node, owners: dict[str, Wallet], receiver, now_s: int):
    """The fleet's GGOs and consumption of the last day on the ledger, with their keys."""
    issued: list[Issued] = []
    consumption: dict[tuple[str, str], list[Consumption]] = {}
    end_s = now_s - now_s % HOUR_S
    for i, m in enumerate(synthetic.fleet()):
        owner = owners[m.owner]
        view = BIP32.from_xpub(owner.meter_xpub(i))
        for begin_s in range(end_s - 86400, end_s, RESOLUTION_S[m.resolution]):
            measurement = wallet.measurement_address(view, begin_s)
            record = node.read_record(measurement)
            if record is None:
                continue
            key, period = owner.measurement_key(i, begin_s), (record["begin"], record["end"])
            if record["type"] == "CONSUMPTION":
                slot = Consumption(key, measurement, record["amount"], receiver(m.owner))
                consumption.setdefault(period, []).append(slot)
                continue
            ggo = addresses.in_namespace(GGO, measurement)
            found = node.read_record(ggo)
            if found is not None and found["next"] is None:
                issued.append(Issued(key, ggo, found["amount"], period))
    return issued, consumption
