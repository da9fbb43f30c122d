"""`origin web ...`: the web app as a process of its own (production), for its operator.
Refusals are one line, never a traceback."""

import json
import logging
from dataclasses import asdict, fields
from pathlib import Path

import click

from origin.commands import data_option, fail

CONFIG = "web.json"
DATA_OPTION = data_option("The web app's folder (its configuration, with the client's secret).")


@click.group()
def web() -> None:
    """The web app, for its operator."""


@web.command("init")
@DATA_OPTION
@click.option("--public-url", required=True, help="Where people reach the app; its redirect URI is {this}/callback.")
@click.option("--auth-issuer", required=True, help="The authorization server.")
@click.option("--client-id", required=True, help="The app's client at the authorization server (confidential).")
@click.option("--client-secret", envvar="ORIGIN_WEB_CLIENT_SECRET", required=True,
              help="Its secret ($ORIGIN_WEB_CLIENT_SECRET).")  # fmt: skip
@click.option("--accounts-url", required=True, help="The account service.")
@click.option("--datahub-url", required=True, help="The DataHub service.")
@click.option("--ledger-url", required=True, help="The ledger node.")
@click.option(
    "--log-key", required=True, help="The ledger's log key (its genesis's log_key): bundles must verify under it."
)
def web_init(data: Path, **options: str) -> None:
    """Create the app's folder (readable by its user only)."""
    from origin.folder import ConfigError, check_url, making, write_private
    from origin.protocol import note
    from origin.web.app import VENDOR, Config

    try:
        for name in ("public_url", "auth_issuer", "accounts_url", "datahub_url", "ledger_url"):
            options[name] = check_url("--" + name.replace("_", "-"), options[name])
        note.Verifier.parse(options["log_key"])
        if (Path(data) / CONFIG).exists():
            raise ConfigError(f"{data} already holds a web app")
        config = Config(**options, vendor=VENDOR)
        with making(Path(data), (CONFIG,)):
            write_private(Path(data) / CONFIG, json.dumps(asdict(config), indent=2))
    except (ConfigError, ValueError) as exc:
        fail(str(exc))
    click.echo(f"the web app's folder is {data}; its redirect URI: {config.public_url}/callback")


@web.command("serve")
@DATA_OPTION
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8705, type=click.IntRange(1, 65535), show_default=True)
def web_serve(data: Path, host: str, port: int) -> None:
    """Run the web app."""
    from origin.folder import ConfigError, load_config
    from origin.server import PortInUse, make_server, run
    from origin.web.app import Config, create_web_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        config = load_config(Path(data) / CONFIG, Config, "web app", "origin web init",
                             lambda raw: {k: v for k, v in raw.items() if k in {f.name for f in fields(Config)}})  # fmt: skip
        server = make_server(create_web_app(config), host, port)
    except (ConfigError, PortInUse, ValueError) as exc:
        fail(str(exc))
    click.echo(f"the web app on {config.public_url}/ (serving on http://{host}:{port})", err=True)
    run(server)
