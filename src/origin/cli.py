"""The `origin` command. Refusals are one line on stderr and a non-zero exit, never a traceback."""

import json
import logging
import sys
import time
from pathlib import Path

import click

from origin.accounts.cli import account, accounts
from origin.auth.cli import auth
from origin.commands import data_option, fail
from origin.ledger import data as ledger_data
from origin.process import few_malloc_arenas
from origin.protocol import note
from origin.protocol.genesis import DEFAULT_GGO_LIFETIME_S, DEFAULT_RESOLUTIONS_S, DEFAULT_SECTORS
from origin.protocol.wallet import Wallet
from origin.web.cli import web

DATA_OPTION = data_option()  # a part's folder (commands with more to say give their own help)


@click.group()
def main():
    """Origin: a verifiable registry for Granular Guarantees of Origin."""
    few_malloc_arenas()


@main.group()
def keys():
    """BIP32 keys for owners and issuers."""


@keys.command("new")
def keys_new():
    """Print a fresh BIP32 master xprv, its xpub and the public key of m (hex), as JSON."""
    w = Wallet.generate()
    click.echo(json.dumps({"xprv": w.xprv, "xpub": w.xpub, "public_key": w.public_key.hex()}, indent=2))


DATABASE_OPTION = click.option(
    "--database", metavar="postgresql://...", default=None,
    help="Keep the ledger in this PostgreSQL database instead of SQLite under --data.")  # fmt: skip


@main.group()
def ledger():
    """The ledger node."""


@ledger.command("init")
@data_option("Folder for the ledger's files (created if missing).")
@click.option("--ledger-id", required=True, help="The ledger's id, also its log's name.")
@click.option(
    "--issuer",
    "issuers",
    multiple=True,
    required=True,
    help="33-byte public key (hex) of an issuing body; repeat for more.",
)
@click.option("--sector", "sectors", multiple=True, default=DEFAULT_SECTORS, show_default=True)
@click.option(
    "--resolution-s", "resolutions", multiple=True, type=int, default=DEFAULT_RESOLUTIONS_S, show_default=True
)
@click.option("--ggo-lifetime-s", type=int, default=DEFAULT_GGO_LIFETIME_S, show_default=True)
@DATABASE_OPTION
def ledger_init(data, ledger_id, issuers, sectors, resolutions, ggo_lifetime_s, database):
    """Create a ledger: its genesis, its log key and log entry 0."""
    try:
        genesis = ledger_data.init(
            data,
            ledger_id,
            list(issuers),
            sectors=sectors,
            database=database,
            resolutions_s=resolutions,
            ggo_lifetime_s=ggo_lifetime_s,
        )
    except ledger_data.DataError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write {data}: {exc.strerror}")
    click.echo(json.dumps(genesis, indent=2))


def _open(data: Path, database: str | None):
    try:
        return ledger_data.open_store(data, database)
    except (ledger_data.DataError, note.NoteError) as exc:
        fail(str(exc))


@ledger.command("serve")
@DATA_OPTION
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8700, type=click.IntRange(1, 65535), show_default=True)
@DATABASE_OPTION
def ledger_serve(data, host, port, database):
    """Run the ledger node and its HTTP API."""
    store, signer = _open(data, database)
    serve(store, signer, host, port)


def serve(store, signer, host: str, port: int, demo_data: Path | None = None, auth_port: int = 0,
          history_days: int = 0) -> None:  # fmt: skip
    """The ledger node and its API; with a demo folder, the whole demo platform (the
    authorization server on `auth_port`)."""
    import threading

    from origin.accounts.service import Service as AccountService
    from origin.datahub.service import Service
    from origin.demo import ACCOUNTS, DATAHUB, bring_up, people, platform_app, start_auth, web_app
    from origin.ledger.api import create_app
    from origin.ledger.node import Node
    from origin.server import PortInUse, check_port, make_server
    from origin.server import run as run_server

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        check_port(host, port)
        if demo_data is not None:
            check_port(host, auth_port)
    except PortInUse as exc:
        store.close()
        fail(str(exc))
    node = Node(store, signer, verify_processes=True)
    services = None if demo_data is None else (Service(demo_data / DATAHUB), AccountService(demo_data / ACCOUNTS))
    app = (
        create_app(node)
        if services is None or demo_data is None
        else platform_app(
            node,
            *services,
            web_app(demo_data, f"http://{host}:{port}", f"http://{host}:{auth_port}", str(signer.verifier)),
        )
    )
    server = make_server(app, host, port)
    stop_auth = (lambda: None) if demo_data is None else start_auth(demo_data, host, auth_port)
    node.start()

    def start_demo_when_up(datahub_service: Service, accounts_service: AccountService, demo_data: Path) -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.1)
        bring_up(demo_data, datahub_service, accounts_service, history_days)

    if services is not None and demo_data is not None:
        threading.Thread(target=start_demo_when_up, args=(*services, demo_data), daemon=True).start()
        click.echo(
            f"the web app on http://{host}:{port}/app/; sign in as a demo person:\n{people(demo_data)}", err=True
        )
        click.echo(f"DataHub service on http://{host}:{port}/datahub/docs (it imports the fake DataHub at "
                   f"/fake-datahub every few minutes); account service on http://{host}:{port}/accounts/docs; "
                   f"authorization server on http://{host}:{auth_port} (the demo's sign-ins and API clients in "
                   f"{demo_data / 'demo-keys.json'})", err=True)  # fmt: skip
    try:
        click.echo(f"ledger {node.ledger}: {node.frontier.size} entries; API on http://{host}:{port}/docs", err=True)
        run_server(server)
    finally:
        stop_auth()
        for svc in services or ():
            svc.stop()
        node.stop()
        store.close()


@ledger.command("replay")
@DATA_OPTION
@DATABASE_OPTION
def ledger_replay(data, database):
    """Rebuild the state from the log alone; compare it with the stored state and checkpoint."""
    from origin.ledger.replay import ReplayError, check

    store, _ = _open(data, database)
    started = time.perf_counter()
    try:
        report = check(store)
    except ReplayError as exc:
        fail(f"the log does not replay: {exc}")
    finally:
        store.close()
    took = time.perf_counter() - started
    click.echo(f"replayed {report.entries} entries into {report.records} records in {took:.2f} s")
    click.echo(f"state:      {'matches the stored state' if report.state_matches else 'DIFFERS from the stored state'}")
    click.echo(
        f"checkpoint: {'root matches the latest signed checkpoint' if report.checkpoint_matches else 'DOES NOT match'}"
    )
    for problem in report.problems:
        click.echo(f"  {problem}")
    sys.exit(0 if report.ok else 1)


@main.command("verify")
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--log-key", required=True, help="The log's note verifier key (the genesis's log_key).")
@click.option(
    "--witness-key",
    "witness_keys",
    multiple=True,
    help="A witness's cosignature/v1 verifier key; its cosignature is required.",
)
def verify(bundle, log_key, witness_keys):
    """Check a GGO's provenance bundle offline, and say what it proves. Exit 0: verified;
    1: verification FAILED; 2: the bundle or a key cannot be read."""
    from origin.protocol.canonical import parse
    from origin.protocol.errors import ProtocolError
    from origin.protocol.limits import BUNDLE_BYTES_MAX
    from origin.verify.bundle import Unreadable, VerifyError, verify_bundle

    try:
        keys_ = [note.Verifier.parse(k) for k in (log_key, *witness_keys)]
    except note.NoteError as exc:
        fail(f"bad key: {exc}")
    try:
        with open(bundle, "rb") as f:
            data = f.read(BUNDLE_BYTES_MAX + 1)
    except OSError as exc:
        fail(f"cannot read {bundle}: {exc.strerror}")
    if len(data) > BUNDLE_BYTES_MAX:
        fail(f"cannot read {bundle}: a bundle is at most {BUNDLE_BYTES_MAX} bytes")
    try:
        summary = verify_bundle(parse(data), keys_[0], keys_[1:])
    except ProtocolError as exc:
        fail(f"cannot read {bundle}: not JSON: {exc.message}")
    except Unreadable as exc:
        fail(f"cannot read {bundle}: {exc}")
    except VerifyError as exc:
        click.echo(f"origin: verification FAILED: {exc}", err=True)
        sys.exit(1)
    click.echo("\n".join(summary.lines()))
    click.echo("verified: every signature, proof and rule checks out")


@main.command("witness")
@click.option("--node", "node_url", required=True, help="The ledger node's base URL.")
@data_option("The witness's folder: its key, its replica of the log, its alarm.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8701, type=click.IntRange(1, 65535), show_default=True)
@click.option("--name", default="origin-witness", show_default=True, help="Its key's name (first run).")
@click.option("--log-key", default=None, help="Pin the log's verifier key instead of trusting the genesis.")
@click.option("--poll-s", default=2.0, type=float, show_default=True)
@click.option("--exit-on-alarm", is_flag=True, help="Exit with code 3 when the node misbehaves.")
def witness(node_url, data, host, port, name, log_key, poll_s, exit_on_alarm):
    """Follow a node's log, replay it, and cosign its checkpoints while it behaves."""
    import threading

    from origin.client import http
    from origin.server import PortInUse, make_server
    from origin.server import run as run_server
    from origin.verify.witness import Alarm, Witness
    from origin.verify.witness_api import create_witness_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    w = Witness(data, lambda path: http("GET", node_url.rstrip("/") + path), name=name, log_key=log_key)
    click.echo(f"witness {w.verifier_key} of {node_url}; serving on http://{host}:{port}", err=True)
    try:
        server = make_server(create_witness_app(w), host, port)
    except PortInUse as exc:
        fail(str(exc))
    alarmed = threading.Event()

    def follow():
        while not server.should_exit:
            try:
                w.sync()
            except Alarm:
                alarmed.set()
                if exit_on_alarm:
                    server.should_exit = True
                    return
            except (OSError, ValueError) as exc:
                logging.getLogger("origin.witness").warning("cannot reach the node: %s", exc)
            time.sleep(poll_s)

    threading.Thread(target=follow, daemon=True).start()
    run_server(server)
    w.close()
    sys.exit(3 if alarmed.is_set() else 0)


@main.group()
def datahub():
    """The DataHub service: meters, imports from DataHub, publishing and issuing."""


def _time_option(name):
    return click.option(name, "time_" + name.strip("-"), required=True, metavar="YYYY-MM-DDTHH:MM:SSZ")


def _seconds(text: str) -> int:
    from origin.protocol.errors import ProtocolError
    from origin.protocol.times import parse_time

    try:
        return parse_time(text)
    except ProtocolError as exc:
        fail(exc.message)


@datahub.command("init")
@DATA_OPTION
@click.option("--ledger-url", required=True)
@click.option("--ledger-id", required=True)
@click.option("--datahub-url", required=True, help="The DataHub third-party API's base URL.")
@click.option("--refresh-token", required=True, help="The long-lived DataHub refresh token.")
@click.option("--database", default=None, help="sqlite:///PATH or postgresql://... (default: SQLite in --data)")
@click.option("--issuer-key", default=None, help="The issuing body's private key, hex (default: a new one).")
@click.option("--auth-issuer", required=True, help="The authorization server whose access tokens the API takes.")
def datahub_init(data, ledger_url, ledger_id, datahub_url, refresh_token, database, issuer_key, auth_issuer):
    """Set up a DataHub service folder."""
    from origin.datahub import service

    try:
        key = bytes.fromhex(issuer_key) if issuer_key else None
        made = service.init(data, ledger_url=ledger_url, ledger_id=ledger_id, datahub_url=datahub_url,
                            refresh_token=refresh_token, database=database, issuer_key=key,
                            auth_issuer=auth_issuer)  # fmt: skip
    except (service.ConfigError, ValueError) as exc:
        fail(str(exc))
    click.echo(json.dumps(made, indent=2))


@datahub.command("fake")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8790, type=click.IntRange(1, 65535), show_default=True)
@click.option("--meters", "count", default=12, type=int, show_default=True)
@click.option(
    "--resolution",
    type=click.Choice(["PT1H", "PT15M"]),
    default=None,
    help="Every meter read at this resolution (default: offshore wind and the factory 15 minutes, the rest hourly).",
)
def datahub_fake(host, port, count, resolution):
    """Run a fake DataHub with synthetic meters (refresh token: fake-refresh-token)."""
    from origin.datahub import synthetic
    from origin.datahub.fake import create_fake_app
    from origin.server import PortInUse, make_server
    from origin.server import run as run_server

    try:
        server = make_server(create_fake_app(synthetic.fleet(count, resolution=resolution)), host, port)
    except PortInUse as exc:
        fail(str(exc))
    run_server(server)


def _service(data: Path):
    from origin.datahub import service

    try:
        return service.Service(data)
    except service.ConfigError as exc:
        fail(str(exc))


@datahub.command("sync")
@DATA_OPTION
def datahub_sync(data):
    """Bring the meters in line with the DataHub: the metering points of every authorisation."""
    from origin.datahub.client import DataHubError

    svc = _service(data)
    try:
        report = svc.sync()
    except (DataHubError, OSError) as exc:
        fail(f"the DataHub could not be asked: {exc}")
    finally:
        svc.stop()
    click.echo("\n".join(report.lines()))


@datahub.group("meter")
def datahub_meter():
    """Show meters, and what the issuing body decides of them."""


def _meter_change(data: Path, gsrn: str, change) -> None:
    from origin.datahub import meters

    svc = _service(data)
    try:
        change(svc.engine)
        click.echo(json.dumps(meters.show(svc.engine, gsrn, svc.sectors()), indent=2))
    except meters.MeterError as exc:
        fail(str(exc))
    finally:
        svc.stop()


@datahub_meter.command("list")
@DATA_OPTION
@click.option("--owner", default=None, help="Only this owner's (customer key or CVR).")
def meter_list(data, owner):
    """Every meter, one line each, with what it waits for."""
    from origin.datahub import meters

    svc = _service(data)
    cursor: str | None = ""
    sectors = svc.sectors()
    while cursor is not None:
        page, cursor = meters.listed(svc.engine, sectors, owner, cursor)
        for m in page:
            waits = "; ".join(m["waiting_for"]) or "certified"
            click.echo(f"{m['gsrn']}  {m['type']:<11} {m['sector'] or '-':<4} {m['owner']:<20} {waits}")
    svc.stop()


@datahub_meter.command("show")
@DATA_OPTION
@click.argument("gsrn")
def meter_show(data, gsrn):
    """One meter, as JSON."""
    _meter_change(data, gsrn, lambda engine: None)


@datahub_meter.command("set-technology")
@DATA_OPTION
@click.argument("gsrn")
@click.option("--tech-type", required=True, help="EECS technology code, e.g. T020000 (wind).")
@click.option("--fuel-type", required=True, help="EECS fuel code, e.g. F01050100 (wind).")
def meter_set_technology(data, gsrn, tech_type, fuel_type):
    """The issuing body's technology and fuel of a production meter."""
    from origin.datahub import meters

    _meter_change(data, gsrn, lambda engine: meters.set_technology(engine, gsrn, tech_type, fuel_type))


@datahub_meter.command("set-sector")
@DATA_OPTION
@click.argument("gsrn")
@click.argument("sector")
def meter_set_sector(data, gsrn, sector):
    """The issuing body's sector, over the one the meter's postcode gives."""
    from origin.datahub import meters

    _meter_change(data, gsrn, lambda engine: meters.set_sector(engine, gsrn, sector))


@datahub_meter.command("disable")
@DATA_OPTION
@click.argument("gsrn")
def meter_disable(data, gsrn):
    """Stop certifying a meter (its readings are still imported)."""
    from origin.datahub import meters

    _meter_change(data, gsrn, lambda engine: meters.set_disabled(engine, gsrn, True))


@datahub_meter.command("enable")
@DATA_OPTION
@click.argument("gsrn")
def meter_enable(data, gsrn):
    from origin.datahub import meters

    _meter_change(data, gsrn, lambda engine: meters.set_disabled(engine, gsrn, False))


@datahub_meter.command("release")
@DATA_OPTION
@click.argument("gsrn")
def meter_release(data, gsrn):
    """Release a meter the ledger refused, once what it refused is fixed: it is tried again."""
    from origin.datahub import meters

    _meter_change(data, gsrn, lambda engine: meters.release(engine, gsrn))


@datahub.command("import")
@DATA_OPTION
@_time_option("--from")
@_time_option("--to")
def datahub_import(data, time_from, time_to):
    """Import a period for all meters, publish it, and report gaps and corrections."""
    from rich.progress import Progress

    from origin.datahub.client import DataHubError
    from origin.datahub.importer import LedgerRefusesIssuer, LedgerUnavailable

    begin, end = _seconds(time_from), _seconds(time_to)
    if end <= begin:
        fail("--to must be after --from")
    svc = _service(data)
    with Progress(transient=True, disable=not sys.stderr.isatty()) as progress:
        task = progress.add_task("importing", total=None)

        def show(stage, done, total):
            progress.update(task, description=stage, completed=done, total=total or None)

        try:
            report = svc.importer.run(begin, end, progress=show)
        except LedgerRefusesIssuer as exc:
            fail(str(exc))
        except (DataHubError, LedgerUnavailable, OSError) as exc:
            fail(f"{exc} -- run the import again: it resumes where it stopped")
        finally:
            svc.stop()
    click.echo("\n".join(report.lines()))
    sys.exit(1 if report.quarantined else 0)


@datahub.command("serve")
@DATA_OPTION
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8702, type=click.IntRange(1, 65535), show_default=True)
def datahub_serve(data, host, port):
    """Run the DataHub service: its API, the scheduled import, webhook deliveries."""
    from origin.server import PortInUse, serve_service

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        serve_service(_service(data), host, port, lambda url: click.echo(f"DataHub service on {url}", err=True))
    except PortInUse as exc:
        fail(str(exc))


@main.command("demo")
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("origin-demo"),
    show_default=True,
    help="Folder for the demo ledger; reused if it exists.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8700, type=click.IntRange(1, 65535), show_default=True)
@click.option("--auth-port", default=8704, type=click.IntRange(1, 65535), show_default=True,
              help="The authorization server's port (its issuer URL is its root).")  # fmt: skip
@click.option("--history-days", default=365, type=click.IntRange(0, 365), show_default=True,
              help="Days of data imported in the background, behind the last two (0: none).")  # fmt: skip
def demo(data, host, port, auth_port, history_days):
    """Run the platform on embedded SQLite with demo data: the ledger, the DataHub service, a
    fake DataHub, the account service and the authorization server."""
    from origin.demo import prepare

    try:
        store, signer = prepare(data, f"http://{host}:{port}", f"http://{host}:{auth_port}",
                                echo=lambda line: click.echo(line, err=True))  # fmt: skip
    except ledger_data.DataError as exc:
        fail(str(exc))
    serve(store, signer, host, port, demo_data=data, auth_port=auth_port, history_days=history_days)


main.add_command(accounts)
main.add_command(auth)
main.add_command(account)
main.add_command(web)
