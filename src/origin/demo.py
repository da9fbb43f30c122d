"""The platform in one process, with demo data: a ledger, a DataHub service importing a fake
DataHub's synthetic meters (solar, onshore and offshore wind, households, a factory) onto it,
and the account service holding each customer's wallet. Once the first import is in, the
producers transfer part of each hour's GGOs to the consumers, who retire them against their
consumption of the same hour, all through the account service. On SQLite files in one folder,
served on one port: the ledger at /, the DataHub service at /datahub, the account service at
/accounts, the fake DataHub at /fake-datahub; and the authorization server on a port of its own
(its issuer URL is its root), where each customer signs in and whose access tokens both
services take."""

import base64
import json
import logging
import secrets
import shutil
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.routing import Mount

from origin.accounts import service as accounts
from origin.accounts import wallets
from origin.accounts.operations import Operations
from origin.auth import service as auth_service
from origin.auth.oauth import OPERATOR_SCOPES, SCOPES
from origin.auth.users import OPERATOR as OPERATOR_ROLE
from origin.auth.users import USER as USER_ROLE
from origin.client import http
from origin.datahub import meters, service, synthetic
from origin.datahub.fake import PREFIX, REFRESH_TOKEN, create_fake_app
from origin.folder import rewrite_private, write_private
from origin.ledger import data as ledger_data
from origin.ledger.api import create_app
from origin.ledger.node import Node
from origin.ledger.store import Store
from origin.protocol import note
from origin.protocol.wallet import Wallet
from origin.server import in_thread
from origin.web import app as web

LEDGER_ID = "origin.demo/dk"
KEYS_FILE = "demo-keys.json"
WEB_FILE = "web.json"  # the web app's OAuth client
TRADED_FILE = "traded"
PREPARED = "prepared"
PREPARED_TEXT = "the demo's ledger, services, people and keys are made (demo 4: six hourly meters)\n"
DATAHUB, ACCOUNTS, AUTH = "datahub", "accounts", "auth"
IMPORT_EVERY_S = 300
IMPORT_WINDOW_S = 2 * 86400
DAY_S = 86400
TRADE_WAIT_S = 300
# The demo's people, by the DataHub customer (or role) they are.
NAMES = {"customer-0": "Solar and wind producer", "customer-1": "Offshore wind producer", "customer-2": "Household",
         "customer-3": "Factory (a consumer company)", "trader": "Green trader", "operator": "The issuing body"}  # fmt: skip
TRADER = "trader"
ARRANGED_FILE, YEAR_FILE = "arranged", "history-imported"
YEAR_S = 365 * 86400
# The fake DataHub's meters, one or two for each person, read hourly (a year of them is in within
# about a minute of the first run; the 15-minute path is the tests' and benchmarks'): solar and
# onshore wind of the first producer, offshore wind of the second, two of the household, the
# factory's.
FLEET = [replace(m, owner="customer-0") if i == 1 else m
         for i, m in enumerate(synthetic.fleet(8, resolution="PT1H")) if i in (0, 1, 2, 5, 6, 7)]  # fmt: skip
# The household's second meter, which its owner adds themselves, in the web app.
LEFT_TO_ADD = FLEET[4].gsrn
# Who trades with whom: each producer sends this many Wh of every period to a consumer.
DEALS = (("customer-0", "customer-2", 1_000), ("customer-1", "customer-3", 200_000))

logger = logging.getLogger("origin.demo")


def prepare(data: Path, url: str, auth_url: str, echo: Callable[[str], None] = print) -> tuple[Store, note.Signer]:
    """Open the demo ledger in `data`, creating it, the DataHub service, the account service and
    the authorization server beside it on first use; point the services at `url`, where the
    platform will be served, and at `auth_url`, where the authorization server will be. A first
    run that was interrupted (or a demo made by an earlier version) is begun again: the demo's
    files are made anew."""
    data = Path(data)
    if not (data / PREPARED).exists() or (data / PREPARED).read_text() != PREPARED_TEXT:
        _remove_unfinished(data)
        issuer = Wallet.generate()
        ledger_data.init(data, LEDGER_ID, [issuer.public_key.hex()])
        _datahub(data, issuer, auth_url)
        ids = _accounts(data, auth_url)
        sign_ins, apps = _auth(data, auth_url, ids)
        _write_keys(data, issuer, sign_ins, apps)
        (data / PREPARED).write_text(PREPARED_TEXT)
        echo(f"demo ledger created in {data}; sign-ins and API clients in {data / KEYS_FILE}")
    _point_at(data / DATAHUB / service.CONFIG, ledger_url=url, datahub_url=f"{url}/fake-datahub{PREFIX}",
              auth_issuer=auth_url)  # fmt: skip
    _point_at(data / ACCOUNTS / accounts.CONFIG, ledger_url=url, datahub_url=f"{url}/datahub", auth_issuer=auth_url)
    _point_at(data / AUTH / auth_service.CONFIG, issuer=auth_url)
    _web_client(data, url)
    return ledger_data.open_store(data)


def _web_client(data: Path, url: str) -> None:
    """The web app's OAuth client at the authorization server (registered by the operator, its
    redirect URI under `url`): made again when the platform moves to another URL."""
    path = data / WEB_FILE
    known = json.loads(path.read_text()) if path.exists() else {}
    if known.get("url") == url:
        return
    svc = auth_service.Service(data / AUTH)
    try:
        operator = svc.users.by_email(_email("operator"))
        assert operator is not None, "the demo's operator is made with the demo"
        if known.get("client_id"):
            svc.delete_client(operator.id, known["client_id"])
        client = svc.register_client(operator, "Origin web app", [f"{url}/app/callback"], False, web.SCOPE.split(),
                                     ["authorization_code", "refresh_token"])  # fmt: skip
    finally:
        svc.stop()
    write_private(path, json.dumps({"url": url, "client_id": client["client_id"],
                                    "client_secret": client["client_secret"]}, indent=2))  # fmt: skip


def web_app(data: Path, url: str, auth_url: str, log_key: str) -> FastAPI:
    """The web app, a client of the platform at `url` like any third party's."""
    client = json.loads((Path(data) / WEB_FILE).read_text())
    return web.create_web_app(web.Config(public_url=f"{url}/app", auth_issuer=auth_url, client_id=client["client_id"],
                                         client_secret=client["client_secret"], accounts_url=f"{url}/accounts",
                                         datahub_url=f"{url}/datahub", ledger_url=url, log_key=log_key,
                                         vendor=web.VENDOR))  # fmt: skip


def _point_at(config_path: Path, **urls: str) -> None:
    config = json.loads(config_path.read_text())
    config.update(urls)
    rewrite_private(config_path, json.dumps(config, indent=2))


def _remove_unfinished(data: Path) -> None:
    """What an interrupted first run left: the demo's own files only, never anything else."""
    if data.exists() and (ledger_data.ledger_files(data) or (data / DATAHUB).exists()):
        logger.warning("%s holds an unfinished or older demo: making it anew", data)
    for path in [
        *ledger_data.ledger_files(data),
        data / KEYS_FILE,
        data / TRADED_FILE,
        data / PREPARED,
        data / WEB_FILE,
    ]:
        path.unlink(missing_ok=True)
    shutil.rmtree(data / DATAHUB, ignore_errors=True)
    shutil.rmtree(data / ACCOUNTS, ignore_errors=True)
    shutil.rmtree(data / AUTH, ignore_errors=True)


def _datahub(data: Path, issuer: Wallet, auth_url: str) -> None:
    """The DataHub service, taking the authorization server's tokens."""
    service.init(data / DATAHUB, ledger_url="http://127.0.0.1", ledger_id=LEDGER_ID, datahub_url="http://127.0.0.1",
                 refresh_token=REFRESH_TOKEN, issuer_key=issuer.private_key([]), auth_issuer=auth_url)  # fmt: skip
    config_path = data / DATAHUB / service.CONFIG
    config = json.loads(config_path.read_text())
    config.update(import_every_s=IMPORT_EVERY_S, import_window_s=IMPORT_WINDOW_S)
    rewrite_private(config_path, json.dumps(config, indent=2))


def _accounts(data: Path, auth_url: str) -> dict[str, str]:
    """The account service (its key-encryption key in its folder, as suits a laptop) and a held
    account for each customer: customer -> account id."""
    accounts.init(data / ACCOUNTS, ledger_url="http://127.0.0.1", datahub_url="http://127.0.0.1", auth_issuer=auth_url)
    svc = accounts.Service(data / ACCOUNTS)
    ids = {who: wallets.create(svc.engine, svc.kek, NAMES[who], int(time.time())).id
           for who in sorted({m.owner for m in FLEET} | {TRADER})}  # fmt: skip
    svc.stop()
    return ids


def _auth(data: Path, auth_url: str, ids: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The authorization server: a person for each customer, whose tokens act for the customer's
    account and DataHub identity, and the issuing body's operator; their sign-ins (a demo's
    passwords, kept in the keys file) and, for each, an API client of theirs for scripts (client
    credentials: its tokens act for the person who registered it)."""
    auth_service.init(data / AUTH, issuer=auth_url)
    svc = auth_service.Service(data / AUTH)
    sign_ins, apps = {}, {}
    people: list[tuple[str, str, str, str | None, str | None]] = [
        (who, NAMES[who], USER_ROLE, account, None if who == TRADER else who) for who, account in sorted(ids.items())
    ]
    people.append(("operator", NAMES["operator"], OPERATOR_ROLE, None, None))
    for key, name, role, account, owner in people:
        email, password = _email(key), secrets.token_urlsafe(12)
        user = svc.users.sign_up(email, name, password, role=role, account=account, datahub_owner=owner)
        sign_ins[key] = {"email": email, "password": password}
        scope = [s for s, (_, audiences) in SCOPES.items()
                 if audiences and (role == OPERATOR_ROLE or s not in OPERATOR_SCOPES)]  # fmt: skip
        client = svc.register_client(user, "The demo's scripts", [], False, scope, ["client_credentials"])
        apps[key] = {
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
            "scope": client["scope"],
        }
    svc.stop()
    return sign_ins, apps


def people(data: Path) -> str:
    """The demo's sign-ins, a line each."""
    sign_ins = json.loads((Path(data) / KEYS_FILE).read_text())["sign_ins"]
    return "\n".join(f"  {NAMES[who]:<30} {s['email']:<34} password {s['password']}" for who, s in sign_ins.items())


def _email(who: str) -> str:
    return f"{who}@demo.origin.example"


def access_token(data: Path, who: str) -> str:
    """An access token for a demo person's scripts, from the running authorization server
    (client credentials)."""
    app = json.loads((Path(data) / KEYS_FILE).read_text())["apps"][who]
    config = json.loads((Path(data) / AUTH / auth_service.CONFIG).read_text())
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": app["scope"]}).encode()
    basic = base64.b64encode(f"{app['client_id']}:{app['client_secret']}".encode()).decode()
    status, answer = http("POST", f"{config['issuer']}/token", body, headers={
        "Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    if status != 200:
        raise RuntimeError(f"the authorization server gave the demo's {who} no token: HTTP {status} {answer[:200]!r}")
    return str(json.loads(answer)["access_token"])


def start_auth(data: Path, host: str, port: int) -> Callable[[], None]:
    """The demo's authorization server, serving on `port` in a thread of this process; what
    stops it."""
    svc = auth_service.Service(data / AUTH)
    _, stop_serving = in_thread(svc.app(), host, port)

    def stop() -> None:
        stop_serving()
        svc.stop()

    return stop


def _account_ids(svc: accounts.Service) -> dict[str, str]:
    """customer (or trader) -> account id (the demo names each account after its person)."""
    who = {name: key for key, name in NAMES.items()}
    with svc.engine.connect() as conn:
        return {who[r.name]: r.id for r in conn.execute(accounts.db.accounts.select())}


def onboard(data: Path, datahub_service: service.Service, accounts_service: accounts.Service) -> None:
    """What the people of the demo do once the platform is up: the DataHub service lists the
    meters of the customers' authorisations, the issuing body sets each production meter's
    technology, and each customer adds their meters in the account service, which derives the
    meter keys and gives their xpubs to the DataHub service."""
    datahub_service.sync()
    sectors = datahub_service.sectors()
    ids, tokens = _account_ids(accounts_service), {}
    added = {m["gsrn"] for account in ids.values() for m in accounts_service.meters.listed(account)}
    for m in FLEET:
        meter = meters.show(datahub_service.engine, m.gsrn, sectors)
        _, tech, fuel, _ = synthetic.KINDS[m.kind]
        if tech and fuel and not meter["tech_type"]:
            meters.set_technology(datahub_service.engine, m.gsrn, tech, fuel)
        if m.gsrn not in added and m.gsrn != LEFT_TO_ADD:
            if m.owner not in tokens:
                tokens[m.owner] = access_token(data, m.owner)
            accounts_service.meters.add(ids[m.owner], tokens[m.owner], m.gsrn)


def platform_app(node: Node, datahub_service: service.Service, accounts_service: accounts.Service,
                 web_app: FastAPI) -> Starlette:  # fmt: skip
    return Starlette(routes=[
        Mount("/datahub", datahub_service.app()),
        Mount("/accounts", accounts_service.app()),
        Mount("/app", web_app),
        Mount("/fake-datahub", create_fake_app(FLEET)),
        Mount("/", create_app(node)),
    ])  # fmt: skip


def _write_keys(data: Path, issuer: Wallet, sign_ins: dict[str, Any], apps: dict[str, Any]) -> None:
    keys = {"issuer": {"xprv": issuer.xprv, "public_key": issuer.public_key.hex()}, "sign_ins": sign_ins, "apps": apps}
    write_private(data / KEYS_FILE, json.dumps(keys, indent=2))


def bring_up(data: Path, datahub_service: service.Service, accounts_service: accounts.Service,
             history_days: int) -> None:  # fmt: skip
    """What the demo's people do once the platform serves: onboard, the first import, the
    trades and agreements (the platform serves whatever fails here, and the scheduled import
    tries again); then the services' background work, and `history_days` of data behind it."""
    try:
        onboard(data, datahub_service, accounts_service)
        datahub_service.import_recent(int(time.time()))
        trade_once(data, accounts_service, int(time.time()))
        arrange(data, accounts_service, int(time.time()))
    except Exception:
        logger.exception("the demo's first import or trades failed")
    datahub_service.start()
    accounts_service.start()
    try:
        import_history(data, datahub_service, int(time.time()), history_days)
    except Exception:  # the platform serves the last days; the next start tries the year again
        logger.exception("the demo's year of data is not all imported")
        return
    routed(accounts_service)


def routed(accounts_service: accounts.Service, every_s: float = 5.0) -> None:
    """Say how the agreements catch up with what arrived (all of the log read), until they have."""
    accounts_service.follow()
    while queued := accounts_service.automation.queued():
        logger.info("the demo's agreements and automation: %d periods still to route", queued)
        time.sleep(every_s)
        accounts_service.follow()
    logger.info("the demo is ready: its data is in and its agreements have run")


def arrange(data: Path, accounts_service: accounts.Service, now_s: int) -> None:
    """Standing agreements, accepted, and automation on, once per demo folder: the wind producer
    sends the factory what matches its unmatched consumption and the trader up to 1 MWh an hour;
    the trader passes on what matches the factory's. The solar producer and the household trade
    by hand, in the web app."""
    if (Path(data) / ARRANGED_FILE).exists():
        return
    ids, agreements = _account_ids(accounts_service), accounts_service.agreements
    begin_s = now_s - now_s % DAY_S - YEAR_S
    for sender, receiver, rule, value in (("customer-1", "customer-3", "unmatched", None),
                                          ("customer-1", TRADER, "cap", 1_000_000),
                                          (TRADER, "customer-3", "unmatched", None)):  # fmt: skip
        made = agreements.propose(ids[sender], sender=ids[sender], receiver=ids[receiver], begin_s=begin_s, end_s=None,
                                  sectors=None, technologies=None, rule=rule, rule_value=value)  # fmt: skip
        agreements.decide(ids[receiver], made["id"], "accept")
    for who in ("customer-1", TRADER, "customer-3"):
        accounts_service.automation.enable(ids[who], True)
    (Path(data) / ARRANGED_FILE).write_text("agreements made, automation on\n")
    logger.info("the demo's agreements are made and its automation is on")


def import_history(data: Path, datahub_service: service.Service, now_s: int, days: int) -> None:
    """`days` of the fake DataHub's data behind the scheduled import's window, a month at a
    time, once per demo folder, while the platform serves."""
    if days == 0 or (Path(data) / YEAR_FILE).exists():
        return
    end_s = now_s - now_s % DAY_S - IMPORT_WINDOW_S
    months = -(-days // 30)
    for month in range(months):
        begin_s = end_s - days * DAY_S + month * days * DAY_S // months
        report = datahub_service.importer.run(begin_s, end_s - days * DAY_S + (month + 1) * days * DAY_S // months)
        logger.info("the demo's %d days of history: part %d of %d imported (%d measurements published)", days,
                    month + 1, months, report.published)  # fmt: skip
    (Path(data) / YEAR_FILE).write_text(f"{days} days of history imported\n")


def _settled(ops: Operations, account: str, op: dict[str, Any]) -> dict[str, Any]:
    """The operation once the ledger decided (one of many batches runs in the background)."""
    deadline = time.monotonic() + TRADE_WAIT_S
    while op["status"] == "PENDING" and time.monotonic() < deadline:
        time.sleep(0.2)
        op = ops.get(account, op["id"])
    if op["status"] != "COMMITTED":
        raise RuntimeError(f"a demo trade did not commit: {op['status']} {op['error']}")
    return op


def trade_once(data: Path, accounts_service: accounts.Service, now_s: int) -> None:
    """The day's trades, once per demo folder: each producer transfers part of every period of
    the last two days to its consumer, who retires what it holds against its consumption of the
    first day (the second day's are theirs to retire in the web app)."""
    data = Path(data)
    if (data / TRADED_FILE).exists():
        return
    accounts_service.follow()
    ids, ops = _account_ids(accounts_service), accounts_service.operations
    end_s = now_s - now_s % DAY_S
    done = [_settled(ops, ids[producer], ops.transfer_hourly(ids[producer], ids[consumer], amount_wh,
                                                            end_s - 2 * DAY_S, end_s))
            for producer, consumer, amount_wh in DEALS]  # fmt: skip
    accounts_service.follow()  # the consumers hold what they were sent
    done += [_settled(ops, ids[consumer], ops.retire_period(ids[consumer], end_s - 2 * DAY_S, end_s - DAY_S))
             for _, consumer, _ in DEALS]  # fmt: skip
    (data / TRADED_FILE).write_text(f"{len(done)} operations\n")
    logger.info("the demo's customers made %d operations through the account service", len(done))
