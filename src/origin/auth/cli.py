"""`origin auth ...`: the authorization server, for its operator. Refusals are one line, never a
traceback."""

import json
import logging
from pathlib import Path
from typing import Any

import click

from origin.commands import data_option, fail

DATA_OPTION = data_option("The authorization server's folder.")


def _service(data: Path) -> Any:
    from origin.auth import service

    try:
        return service.Service(data)
    except service.ConfigError as exc:
        fail(str(exc))


@click.group()
def auth() -> None:
    """The authorization server (OAuth 2.0 and OpenID Connect), for its operator."""


@auth.command("init")
@DATA_OPTION
@click.option("--issuer", required=True, help="The URL people and apps reach the server at (https in production).")
@click.option("--database", metavar="postgresql://...", default=None, help="PostgreSQL instead of SQLite in --data.")
def auth_init(data: Path, issuer: str, database: str | None) -> None:
    """Create the server's folder, database and first signing key."""
    from origin.auth import service

    try:
        click.echo(json.dumps(service.init(data, issuer=issuer, database_url=database), indent=2))
    except service.ConfigError as exc:
        fail(str(exc))


@auth.command("serve")
@DATA_OPTION
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8704, type=click.IntRange(1, 65535), show_default=True)
def auth_serve(data: Path, host: str, port: int) -> None:
    """Run the authorization server."""
    from origin.server import PortInUse, serve_service

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    svc = _service(data)
    try:
        serve_service(svc, host, port, lambda url: click.echo(f"authorization server on {svc.config.issuer} "
                                                              f"(listening on {url.removesuffix('/docs')})", err=True))  # fmt: skip
    except PortInUse as exc:
        fail(str(exc))


@auth.command("add-operator")
@DATA_OPTION
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.password_option(help="The operator's password (asked for when left out).")
def auth_add_operator(data: Path, email: str, name: str, password: str) -> None:
    """Make a user with the issuing body's operator role (or give an existing user that role)."""
    from origin.auth.users import OPERATOR, UserError

    svc = _service(data)
    try:
        found = svc.users.by_email(email)
        if found is not None:
            svc.users.link(found.id, role=OPERATOR)
            click.echo(json.dumps({"user": found.id, "role": OPERATOR, "made": False}))
            return
        user = svc.users.sign_up(email, name, password, role=OPERATOR)
        click.echo(json.dumps({"user": user.id, "role": OPERATOR, "made": True}))
    except UserError as exc:
        fail(str(exc))
    finally:
        svc.stop()


@auth.command("link")
@DATA_OPTION
@click.option("--email", required=True, help="The user's e-mail address.")
@click.option("--account", default=None, help="The user's account id at the account service.")
@click.option("--datahub-owner", default=None, help="The user's owner identity at the DataHub service.")
def auth_link(data: Path, email: str, account: str | None, datahub_owner: str | None) -> None:
    """Say which account and which DataHub owner identity a user's tokens act for."""
    svc = _service(data)
    try:
        user = svc.users.by_email(email)
        if user is None:
            fail(f"no user {email}")
        svc.users.link(user.id, account=account, datahub_owner=datahub_owner)
    finally:
        svc.stop()


@auth.command("register-client")
@DATA_OPTION
@click.option("--owner", required=True, help="The e-mail address of the user the client belongs to.")
@click.option("--name", required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="Exact redirect URI (repeat for several).")
@click.option("--scope", "scopes", multiple=True, required=True, help="A scope it may ask for (repeat).")
@click.option("--public", is_flag=True, help="A browser or native app: no secret, PKCE only.")
@click.option("--client-credentials", is_flag=True, help="It may also act for its owner itself (a service).")
def auth_register_client(data: Path, owner: str, name: str, redirect_uris: tuple[str, ...], scopes: tuple[str, ...],
                         public: bool, client_credentials: bool) -> None:  # fmt: skip
    """Register an OAuth client; print its id and secret (shown once)."""
    from origin.auth.users import UserError

    svc = _service(data)
    try:
        user = svc.users.by_email(owner)
        if user is None:
            fail(f"no user {owner}")
        grants = (["authorization_code", "refresh_token"] if redirect_uris else []) + (
            ["client_credentials"] if client_credentials else []
        )
        click.echo(json.dumps(svc.register_client(user, name, list(redirect_uris), public, list(scopes), grants),
                              indent=2))  # fmt: skip
    except UserError as exc:
        fail(str(exc))
    finally:
        svc.stop()


@auth.command("outbox")
@DATA_OPTION
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
def auth_outbox(data: Path, limit: int) -> None:
    """The mails the server has to send (password resets), newest first."""
    svc = _service(data)
    try:
        mails = svc.users.outbox(limit)
        for mail in mails:
            click.echo(f"To: {mail['to']}\nSubject: {mail['subject']}\n\n{mail['body']}\n{'-' * 60}")
        if not mails:
            click.echo("the outbox is empty", err=True)
    finally:
        svc.stop()


@auth.command("rotate-key")
@DATA_OPTION
def auth_rotate_key(data: Path) -> None:
    """A new signing key signs from now on; the old one stays published until its tokens expire."""
    svc = _service(data)
    try:
        click.echo(json.dumps({"signing_key": svc.keys.rotate()}))
    finally:
        svc.stop()
