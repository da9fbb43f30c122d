"""`origin accounts ...` for the account service's operator, and `origin account ...` for an
account's owner (it calls the service's API with an access token of the authorization server
that names the account). Refusals are one line,
never a traceback."""

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from origin.commands import data_option, fail

DATA_OPTION = data_option("The account service's folder.")
KEK_OPTION = click.option("--kek", type=click.Path(dir_okay=False, path_type=Path), default=None,
                          help="The key-encryption key's file (else $ORIGIN_ACCOUNTS_KEK, else the one init made).")  # fmt: skip


@click.group()
def accounts() -> None:
    """The account service, for its operator."""


@accounts.command("init")
@DATA_OPTION
@click.option("--ledger-url", required=True, help="The ledger node's URL.")
@click.option("--datahub-url", required=True, help="The DataHub service's URL.")
@click.option("--database", metavar="postgresql://...", default=None, help="PostgreSQL instead of SQLite in --data.")
@click.option("--auth-issuer", required=True, help="The authorization server whose access tokens the API takes.")
@KEK_OPTION
def accounts_init(data: Path, ledger_url: str, datahub_url: str, database: str | None, auth_issuer: str,
                  kek: Path | None) -> None:  # fmt: skip
    """Create the service's folder and database; print where its key-encryption key is."""
    from origin.accounts import service
    from origin.accounts.custody import CustodyError

    try:
        made = service.init(data, ledger_url=ledger_url, datahub_url=datahub_url, database=database, kek=kek,
                            auth_issuer=auth_issuer)  # fmt: skip
    except (service.ConfigError, CustodyError) as exc:
        fail(str(exc))
    click.echo(json.dumps(made, indent=2))
    if made["kek_file"].startswith(str(Path(data).resolve())):
        click.echo("the key-encryption key was made beside the database: in production, keep it elsewhere "
                   "(--kek FILE or $ORIGIN_ACCOUNTS_KEK)", err=True)  # fmt: skip


def _service(data: Path, kek: Path | None) -> Any:
    from origin.accounts import service

    try:
        return service.Service(data, kek)
    except service.ConfigError as exc:
        fail(str(exc))


@accounts.command("serve")
@DATA_OPTION
@KEK_OPTION
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8703, type=click.IntRange(1, 65535), show_default=True)
def accounts_serve(data: Path, kek: Path | None, host: str, port: int) -> None:
    """Run the account service: its API, the inventory follower, pending operations, webhooks."""
    from origin.server import PortInUse, serve_service

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        serve_service(_service(data, kek), host, port, lambda url: click.echo(f"account service on {url}", err=True))
    except PortInUse as exc:
        fail(str(exc))


@accounts.command("reconcile")
@DATA_OPTION
@KEK_OPTION
def accounts_reconcile(data: Path, kek: Path | None) -> None:
    """Follow the ledger's log, then compare every GGO and measurement of the inventory with the
    ledger's state; print each difference. Exit 1 if there is any."""
    from rich.progress import Progress

    from origin.accounts.ledger import LedgerAlarm, LedgerUnavailable
    from origin.accounts.reconcile import reconcile

    svc = _service(data, kek)
    try:
        with Progress(transient=True, disable=not sys.stderr.isatty()) as progress:
            task = progress.add_task("following the log", total=None)
            svc.follow(lambda done, total: progress.update(task, completed=done, total=total))
            progress.update(task, description="comparing with the ledger", completed=0, total=None)
            report = reconcile(svc.engine, svc.ledger, lambda done, total: progress.update(task, completed=done,
                                                                                           total=total))  # fmt: skip
    except (LedgerUnavailable, LedgerAlarm) as exc:
        fail(str(exc))
    finally:
        svc.stop()
    for line in report.differences:
        click.echo(line)
    click.echo(f"{report.checked} records checked against the ledger at {report.size} entries: "
               f"{len(report.differences)} differences", err=True)  # fmt: skip
    sys.exit(1 if report.differences else 0)


@accounts.command("rewrap-keys")
@DATA_OPTION
@click.option("--old-kek", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The current KEK's file (else $ORIGIN_ACCOUNTS_KEK, else the one init made).")  # fmt: skip
@click.option("--new-kek", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The new KEK's file (`origin accounts new-kek` makes one).")  # fmt: skip
def accounts_rewrap(data: Path, old_kek: Path | None, new_kek: Path) -> None:
    """Wrap every account's data key under a new key-encryption key, all or nothing. Point the
    service at the new KEK afterwards; the old one can then be destroyed."""
    from origin.accounts import custody, db, service, wallets
    from origin.accounts.custody import CustodyError, LocalKek

    try:
        config = service.load(data)
        old, new = service.load_kek(config, old_kek), LocalKek.load(new_kek)
        engine = db.connect(config.database)
        count = wallets.rewrap_all(engine, old, new)
        engine.dispose()
    except (service.ConfigError, CustodyError) as exc:
        fail(str(exc))
    click.echo(f"{count} accounts re-wrapped under key-encryption key {new.key_id}")
    if old_kek is None and custody.KEK_ENV not in os.environ and config.kek_file:
        service.set_kek_file(data, new_kek)
        click.echo(f"{Path(data) / service.CONFIG} now names {new_kek}; restart the service", err=True)
    else:
        click.echo(f"start the service with --kek {new_kek} (or the new key in ${custody.KEK_ENV})", err=True)


@accounts.command("new-kek")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def accounts_new_kek(file: Path) -> None:
    """Write a new key-encryption key to FILE (readable by you only)."""
    from origin.accounts.custody import LocalKek

    try:
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        fail(f"{file} exists: a KEK file is never overwritten")
    with os.fdopen(fd, "w") as f:
        f.write(LocalKek.generate_hex() + "\n")
    click.echo(f"wrote {file}")


@accounts.command("open")
@DATA_OPTION
@KEK_OPTION
@click.option("--name", required=True, help="The account's name.")
def accounts_open(data: Path, kek: Path | None, name: str) -> None:
    """Open a held account; print its id, for `origin auth link --account` to give to its user."""
    from origin.accounts import wallets

    svc = _service(data, kek)
    try:
        now_s = int(time.time())
        account = wallets.create(svc.engine, svc.kek, name, now_s)
    except wallets.AccountError as exc:
        fail(str(exc))
    finally:
        svc.stop()
    click.echo(json.dumps({"id": account.id}, indent=2))


# -- the owner's commands: calls to the API ---------------------------------------------------


class Api:
    def __init__(self, url: str, token: str):
        self.url, self.token = url.rstrip("/"), token

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, key: str | None = None) -> Any:
        from origin.client import http

        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        if key:
            headers["Idempotency-Key"] = key
        try:
            status, answer = http(method, self.url + path, None if body is None else json.dumps(body).encode(),
                                  headers=headers)  # fmt: skip
        except (OSError, ValueError) as exc:
            fail(f"the account service at {self.url} does not answer: {exc}")
        try:
            found = json.loads(answer) if answer else None
        except ValueError:
            fail(f"the account service answered HTTP {status} with no JSON")
        if status >= 400:
            error = (found or {}).get("error", {})
            fail(f"{error.get('code', status)}: {error.get('message', '')}")
        return found


@click.group()
@click.option("--url", envvar="ORIGIN_ACCOUNT_URL", default="http://127.0.0.1:8703", show_default=True,
              help="The account service ($ORIGIN_ACCOUNT_URL).")  # fmt: skip
@click.option(
    "--token",
    envvar="ORIGIN_ACCOUNT_TOKEN",
    required=True,
    help="An access token of the authorization server for your account ($ORIGIN_ACCOUNT_TOKEN).",
)
@click.pass_context
def account(ctx: click.Context, url: str, token: str) -> None:
    """Your account at an account service: GGOs, transfers, retirements."""
    ctx.obj = Api(url, token)


@account.command("ggos")
@click.option("--state", type=click.Choice(["available", "reserved", "transferred", "split", "retired", "expired"]))
@click.option("--from", "begin", help="Periods from (ISO 8601, UTC).")
@click.option("--to", "end", help="Periods to.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def account_ggos(api: Api, state: str | None, begin: str | None, end: str | None, as_json: bool) -> None:
    """List your GGOs (every page)."""
    import urllib.parse

    params = {k: v for k, v in (("state", state), ("begin", begin), ("end", end)) if v}
    after, found = "", []
    while True:
        page = api.call("GET", "/v1/ggos?" + urllib.parse.urlencode({**params, "after": after}))
        found += page["ggos"]
        after = page["next"]
        if not after:
            break
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    for g in found:
        click.echo(
            f"{g['address']}  {g['begin']}  {g['sector']}  {g['tech_type']}  {g['amount_wh']:>12} Wh  {g['state']}"
        )
    click.echo(f"{len(found)} GGOs, {sum(g['amount_wh'] for g in found)} Wh", err=True)


def _receiver(to: str, notify_url: str | None) -> dict[str, Any]:
    return {"xpub": to, "notify_url": notify_url} if to.startswith("xpub") else {"account": to}


def _finish(api: Api, op: dict[str, Any]) -> None:
    """Wait for the operation's outcome, showing its batches as they commit; one line at the end."""
    from rich.progress import Progress

    with Progress(transient=True, disable=not sys.stderr.isatty()) as progress:
        task = progress.add_task(f"{op['id']}: the ledger decides", total=len(op.get("batches") or []) or None)
        while op["status"] == "PENDING":
            time.sleep(0.5)
            op = api.call("GET", f"/v1/operations/{op['id']}")
            progress.update(task, completed=sum(b["status"] == "COMMITTED" for b in op["batches"]))
    if op["status"] == "FAILED":
        fail(f"{op['id']} FAILED: {op['error']['code']}: {op['error']['message']}")
    if op["status"] == "UNSIGNED":
        click.echo(f"{op['id']} UNSIGNED: your signatures are needed (POST /v1/operations/{op['id']}/signatures)")
        return
    click.echo(f"{op['id']} {op['status']}")


@account.command("transfer")
@click.option("--to", "to", required=True, help="An account id of the service, or an external endpoint's xpub.")
@click.option("--notify-url", default=None, help="The external receiver's notify URL.")
@click.option("--ggo", default=None, help="One GGO (whole, or --amount-wh of it).")
@click.option("--amount-wh", type=click.IntRange(1), default=None, help="Wh (of the GGO, or of each period).")
@click.option("--from", "begin", default=None, help="With --amount-wh and no --ggo: each period from ...")
@click.option("--until", "end", default=None, help="... until (ISO 8601, UTC).")
@click.option("--idempotency-key", default=None, help="Retry safely: the same key is applied once.")
@click.pass_obj
def account_transfer(api: Api, to: str, notify_url: str | None, ggo: str | None, amount_wh: int | None,
                     begin: str | None, end: str | None, idempotency_key: str | None) -> None:  # fmt: skip
    """Transfer one GGO (or part of it), or N Wh of each period of [--from, --until)."""
    receiver = _receiver(to, notify_url)
    if ggo is not None:
        op = api.call("POST", "/v1/transfers", {"ggo": ggo, "to": receiver, "amount_wh": amount_wh}, idempotency_key)
    elif amount_wh is not None and begin and end:
        op = api.call("POST", "/v1/bulk/transfers", {"to": receiver, "amount_wh": amount_wh, "begin": begin,
                                                     "end": end}, idempotency_key)  # fmt: skip
    else:
        fail("give --ggo, or --amount-wh with --from and --until")
    _finish(api, op)


@account.command("retire")
@click.option("--ggo", default=None, help="One GGO (whole, or --amount-wh of it).")
@click.option("--amount-wh", type=click.IntRange(1), default=None)
@click.option(
    "--from", "begin", default=None, help="Without --ggo: retire what you hold against your consumption from ..."
)
@click.option("--until", "end", default=None, help="... until (ISO 8601, UTC).")
@click.option("--idempotency-key", default=None)
@click.pass_obj
def account_retire(api: Api, ggo: str | None, amount_wh: int | None, begin: str | None, end: str | None,
                   idempotency_key: str | None) -> None:  # fmt: skip
    """Retire one GGO (or part), or all you can of a period against your consumption."""
    if ggo is not None:
        op = api.call("POST", "/v1/retirements", {"ggo": ggo, "amount_wh": amount_wh}, idempotency_key)
    elif begin and end:
        op = api.call("POST", "/v1/bulk/retirements", {"begin": begin, "end": end}, idempotency_key)
    else:
        fail("give --ggo, or --from and --until")
    _finish(api, op)


@account.command("status")
@click.argument("operation")
@click.pass_obj
def account_status(api: Api, operation: str) -> None:
    """An operation's status, and the reason if it failed."""
    click.echo(json.dumps(api.call("GET", f"/v1/operations/{operation}"), indent=2))


@account.command("matching")
@click.option("--from", "begin", required=True, help="ISO 8601, UTC.")
@click.option("--until", "end", required=True)
@click.option("--resolution", type=click.Choice(["hour", "day", "week", "month", "year"]), default="day",
              show_default=True)  # fmt: skip
@click.option("--sector", default=None)
@click.pass_obj
def account_matching(api: Api, begin: str, end: str, resolution: str, sector: str | None) -> None:
    """How much of your consumption was matched hour by hour, per day (or other bucket)."""
    import urllib.parse

    query = urllib.parse.urlencode({k: v for k, v in (("begin", begin), ("end", end), ("resolution", resolution),
                                                      ("sector", sector)) if v})  # fmt: skip
    found = api.call("GET", f"/v1/matching?{query}")
    for p in found["periods"]:
        coverage = "-" if p["coverage"] is None else f"{p['coverage'] * 100:5.1f} %"
        click.echo(f"{p['period']:<26} {p['consumption_wh']:>14,} Wh  matched {p['matched_wh']:>14,} Wh  {coverage}")
    score = "no consumption" if found["score"] is None else f"{found['score'] * 100:.1f} % matched hour by hour"
    click.echo(f"{found['matched_wh']:,} of {found['consumption_wh']:,} Wh: {score}", err=True)


@account.command("report")
@click.option("--from", "begin", required=True, help="ISO 8601, UTC.")
@click.option("--until", "end", required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="The HTML file to write.")
@click.pass_obj
def account_report(api: Api, begin: str, end: str, out: Path) -> None:
    """Save the printable matching report (open it in a browser, print or save as PDF)."""
    import urllib.parse

    from origin.client import http

    query = urllib.parse.urlencode({"begin": begin, "end": end})
    try:
        status, page = http(
            "GET", f"{api.url}/v1/report.html?{query}", headers={"Authorization": f"Bearer {api.token}"}
        )
    except (OSError, ValueError) as exc:
        fail(f"the account service at {api.url} does not answer: {exc}")
    if status != 200:
        fail(f"the account service refused the report: HTTP {status}: {page[:200].decode(errors='replace')}")
    out.write_bytes(page)
    click.echo(f"wrote {out}")


@account.command("agreements")
@click.pass_obj
def account_agreements(api: Api) -> None:
    """Your transfer agreements, as sender and receiver."""
    for a in api.call("GET", "/v1/agreements"):
        value = "" if a["rule_value"] is None else f" {a['rule_value']}"
        click.echo(f"{a['id']}  {a['status']:<9} {a['sender']} -> {a['receiver'] or a['receiver_xpub'][:20] + '...'}  "
                   f"{a['rule']}{value}  priority {a['priority']}  {a['transferred_wh']:,} Wh transferred")  # fmt: skip


@account.command("propose")
@click.option("--to", "to", default=None, help="You send: the receiving account (or an external endpoint's xpub).")
@click.option("--from-account", "sender", default=None, help="You receive: the sending account.")
@click.option("--rule", type=click.Choice(["cap", "percent", "unmatched"]), required=True)
@click.option("--value", type=int, default=None, help="Wh an hour (cap) or a percentage (percent).")
@click.option("--begin", required=True, help="From (ISO 8601, UTC).")
@click.option("--end", default=None, help="Until (left out: open-ended).")
@click.option("--priority", type=int, default=0)
@click.pass_obj
def account_propose(api: Api, to: str | None, sender: str | None, rule: str, value: int | None, begin: str,
                    end: str | None, priority: int) -> None:  # fmt: skip
    """Propose a transfer agreement; the other side accepts or declines it."""
    if (to is None) == (sender is None):
        fail("give --to (you send) or --from-account (you receive)")
    body = {"rule": rule, "rule_value": value, "begin": begin, "end": end, "priority": priority,
            "sender": sender, "receiver": None if to is None else _receiver(to, None)}  # fmt: skip
    found = api.call("POST", "/v1/agreements", body)
    click.echo(f"{found['id']} {found['status']}")


@account.command("agreement")
@click.argument("agreement")
@click.argument("action", type=click.Choice(["accept", "decline", "withdraw", "cancel"]))
@click.pass_obj
def account_agreement(api: Api, agreement: str, action: str) -> None:
    """Accept, decline, withdraw or cancel an agreement."""
    found = api.call("POST", f"/v1/agreements/{agreement}/{action}", {})
    click.echo(f"{found['id']} {found['status']}")


@account.command("automation")
@click.argument("state", type=click.Choice(["on", "off"]))
@click.pass_obj
def account_automation(api: Api, state: str) -> None:
    """Turn automatic routing on or off."""
    api.call("PUT", "/v1/automation", {"enabled": state == "on"})
    click.echo(f"automation {state}")
