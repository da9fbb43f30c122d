"""The platform in one process, with demo data: a ledger and a DataHub service importing a fake
DataHub's synthetic meters (solar, onshore and offshore wind, households, a factory) onto it;
once the first import is in, the meters' owners trade the day's GGOs (split between a household
and a trader, retired against the household's consumption, passed on), as `origin.trading`
has them. All on SQLite files in one folder, served on one port: the ledger at /, the DataHub
service at /datahub, the fake DataHub at /fake-datahub."""

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from bip32 import BIP32
from starlette.applications import Starlette
from starlette.routing import Mount

from origin.datahub import auth, db, meters, service, synthetic
from origin.datahub.fake import PREFIX, REFRESH_TOKEN, create_fake_app
from origin.ledger import data as ledger_data
from origin.ledger.api import create_app
from origin.ledger.node import Node
from origin.ledger.store import Store
from origin.protocol import addresses, note, wallet
from origin.protocol.addresses import GGO
from origin.protocol.canonical import canonical
from origin.protocol.keys import public_key
from origin.protocol.transactions import decode_batch
from origin.protocol.wallet import Wallet
from origin.trading import Consumption, Issued, pack, trades

LEDGER_ID = "origin.demo/dk"
KEYS_FILE = "demo-keys.json"
TRADED_FILE = "traded"
PREPARED = "prepared"
DATAHUB = "datahub"
IMPORT_EVERY_S = 300
IMPORT_WINDOW_S = 2 * 86400
HOUR_S = 3600
TRADER = "trader"
RESOLUTION_S = {"PT1H": 3600, "PT15M": 900}

logger = logging.getLogger("origin.demo")


def prepare(data: Path, url: str, echo: Callable[[str], None] = print) -> tuple[Store, note.Signer]:
    """Open the demo ledger in `data`, creating it and the DataHub service beside it on first
    use; point the service at `url`, where the platform will be served. A first run that was
    interrupted is begun again: the demo's files are made anew."""
    data = Path(data)
    if not (data / PREPARED).exists():
        _remove_unfinished(data)
        issuer = Wallet.generate()
        ledger_data.init(data, LEDGER_ID, [issuer.public_key.hex()])
        owners, tokens = _datahub(data, issuer)
        _write_keys(data, issuer, owners, tokens)
        (data / PREPARED).write_text("the demo's ledger, DataHub service and keys are made\n")
        echo(f"demo ledger created in {data}; keys in {data / KEYS_FILE}")
    config_path = data / DATAHUB / service.CONFIG
    config = json.loads(config_path.read_text())
    config.update(ledger_url=url, datahub_url=f"{url}/fake-datahub{PREFIX}")
    _rewrite_private(config_path, json.dumps(config, indent=2))
    return ledger_data.open_store(data)


def _remove_unfinished(data: Path) -> None:
    """What an interrupted first run left: the demo's own files only, never anything else."""
    if data.exists() and (ledger_data.ledger_files(data) or (data / DATAHUB).exists()):
        logger.warning("%s holds an unfinished demo: making it anew", data)
    for path in [*ledger_data.ledger_files(data), data / KEYS_FILE, data / TRADED_FILE]:
        path.unlink(missing_ok=True)
    shutil.rmtree(data / DATAHUB, ignore_errors=True)


def _rewrite_private(path: Path, text: str) -> None:
    """Replace a file readable by its owner only, atomically."""
    new = path.with_name(path.name + ".new")
    new.unlink(missing_ok=True)
    service.write_private(new, text)
    os.replace(new, path)


def _datahub(data: Path, issuer: Wallet) -> tuple[dict[str, Wallet], dict[str, str]]:
    """The DataHub service, a wallet for each customer of the fake DataHub, and API tokens for
    the issuing body and each customer."""
    made = service.init(data / DATAHUB, ledger_url="http://127.0.0.1", ledger_id=LEDGER_ID,
                        datahub_url="http://127.0.0.1", refresh_token=REFRESH_TOKEN, issuer_key=issuer.private_key([]))  # fmt: skip
    config_path = data / DATAHUB / service.CONFIG
    config = json.loads(config_path.read_text())
    config.update(import_every_s=IMPORT_EVERY_S, import_window_s=IMPORT_WINDOW_S)
    _rewrite_private(config_path, json.dumps(config, indent=2))
    owners = {TRADER: Wallet.generate()}
    tokens = {"issuing-body": made["issuer_api_token"]}
    engine = db.connect(config["database"])
    for m in synthetic.fleet():
        if m.owner not in owners:
            owners[m.owner] = Wallet.generate()
            tokens[m.owner] = auth.tokens(engine).add(m.owner, auth.OWNER, "the demo's", int(time.time()))
    engine.dispose()
    return owners, tokens


def onboard(data: Path, datahub_service: service.Service) -> None:
    """What the people of the demo do once the platform is up: the service lists the meters of
    the customers' authorisations, the issuing body sets each production meter's technology,
    and each owner gives their meter's xpub (the i-th meter of the fleet is m/1'/i')."""
    datahub_service.sync()
    keys = json.loads((Path(data) / KEYS_FILE).read_text())
    sectors = datahub_service.sectors()
    for i, m in enumerate(synthetic.fleet()):
        meter = meters.show(datahub_service.engine, m.gsrn, sectors)
        _, tech, fuel, _ = synthetic.KINDS[m.kind]
        if tech and fuel and not meter["tech_type"]:
            meters.set_technology(datahub_service.engine, m.gsrn, tech, fuel)
        if not meter["meter_xpub"]:
            xpub = Wallet.from_xprv(keys["owners"][m.owner]["xprv"]).meter_xpub(i)
            meters.set_xpub(datahub_service.engine, m.gsrn, xpub, m.owner)


def platform_app(node: Node, datahub_service: service.Service) -> Starlette:
    return Starlette(routes=[
        Mount("/datahub", datahub_service.app()),
        Mount("/fake-datahub", create_fake_app()),
        Mount("/", create_app(node)),
    ])  # fmt: skip


def _write_keys(data: Path, issuer: Wallet, owners: dict[str, Wallet], tokens: dict[str, str]) -> None:
    keys = {
        "issuer": {"xprv": issuer.xprv, "public_key": issuer.public_key.hex()},
        "owners": {name: {"xprv": w.xprv, "receive_keys_used": 0} for name, w in owners.items()},
        "datahub_api_tokens": tokens,
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
    _rewrite_private(data / KEYS_FILE, json.dumps(keys, indent=2))
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
