"""The production layout of docs/production.md, as real processes: the ledger, the DataHub service
(with the fake DataHub behind it), the account service, the authorization server and the web app,
each its own `origin ... serve`, each on its own PostgreSQL database, set up by their commands
only. A person signs up through the web app, consents, and their account is opened and read
through it; the services check the authorization server's tokens over HTTP."""

import contextlib
import html
import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx2

from harness.scratch import scratch_database
from harness.soak import free_port, wait_answering
from origin.protocol import keys
from origin.web.app import SCOPE

ORIGIN = [sys.executable, "-c", "from origin.cli import main; main()"]
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def origin(*args: object) -> str:
    done = subprocess.run([*ORIGIN, *map(str, args)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, (args[:2], done.stdout[-500:], done.stderr[-2000:])
    return done.stdout


def form(browser: httpx2.Client, url: str, fields: dict[str, str]) -> httpx2.Response:
    """Fill in and send the form the page at `url` shows, as a browser would: its hidden fields
    (the CSRF token, where to go next) with it."""
    page = browser.get(url)
    hidden = {k: html.unescape(v) for k, v in HIDDEN.findall(page.text)}
    assert "csrf" in hidden, (url, page.status_code, page.text[:300])
    return browser.post(url, data={**hidden, **fields})


def test_each_part_its_own_process_on_postgresql(tmp_path: Path, postgres_admin: str):
    ports = {name: free_port() for name in ("ledger", "fake", "datahub", "accounts", "auth", "web")}
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    issuer_key = keys.new_private_key()
    with contextlib.ExitStack() as stack:
        db = {name: stack.enter_context(scratch_database(postgres_admin, "origin_layout"))
              for name in ("ledger", "datahub", "accounts", "auth")}  # fmt: skip
        origin("auth", "init", "--data", tmp_path / "auth", "--issuer", url["auth"], "--database", db["auth"])
        origin("auth", "add-operator", "--data", tmp_path / "auth", "--email", "ops@issuer.example", "--name",
               "Issuing body", "--password", "correct horse battery")  # fmt: skip
        genesis = json.loads(origin("ledger", "init", "--data", tmp_path / "ledger", "--ledger-id", "layout.test/dk",
                                    "--issuer", keys.public_key(issuer_key).hex(), "--database", db["ledger"]))  # fmt: skip
        origin("datahub", "init", "--data", tmp_path / "datahub", "--ledger-url", url["ledger"], "--ledger-id",
               "layout.test/dk", "--datahub-url", f"{url['fake']}/thirdpartyapi", "--refresh-token",
               "fake-refresh-token", "--issuer-key", issuer_key.hex(), "--auth-issuer", url["auth"],
               "--database", db["datahub"])  # fmt: skip
        origin("accounts", "init", "--data", tmp_path / "accounts", "--ledger-url", url["ledger"], "--datahub-url",
               url["datahub"], "--auth-issuer", url["auth"], "--database", db["accounts"])  # fmt: skip
        scopes = [x for s in SCOPE.split() for x in ("--scope", s)]
        client = json.loads(origin("auth", "register-client", "--data", tmp_path / "auth", "--owner",
                                   "ops@issuer.example", "--name", "Origin web app", "--redirect-uri",
                                   f"{url['web']}/callback", *scopes))  # fmt: skip
        origin("web", "init", "--data", tmp_path / "web", "--public-url", url["web"], "--auth-issuer", url["auth"],
               "--client-id", client["client_id"], "--client-secret", client["client_secret"], "--accounts-url",
               url["accounts"], "--datahub-url", url["datahub"], "--ledger-url", url["ledger"], "--log-key",
               genesis["log_key"])  # fmt: skip
        serving = {
            "ledger": (["ledger", "serve", "--data", tmp_path / "ledger", "--database", db["ledger"]], "/healthz"),
            "fake": (["datahub", "fake"], "/thirdpartyapi/api/isalive"),
            "datahub": (["datahub", "serve", "--data", tmp_path / "datahub"], "/docs"),
            "accounts": (["accounts", "serve", "--data", tmp_path / "accounts"], "/docs"),
            "auth": (["auth", "serve", "--data", tmp_path / "auth"], "/.well-known/oauth-authorization-server"),
            "web": (["web", "serve", "--data", tmp_path / "web"], "/"),
        }
        processes = []
        try:
            for name, (command, health) in serving.items():
                log = stack.enter_context(open(tmp_path / f"{name}.log", "wb"))
                process = subprocess.Popen([*ORIGIN, *map(str, command), "--port", str(ports[name])], stdout=log,
                                           stderr=subprocess.STDOUT)  # fmt: skip
                processes.append(process)
                wait_answering(url[name] + health, process, name)
            sign_up_through_the_web_app(url)
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=30)


def sign_up_through_the_web_app(url: dict[str, str]) -> None:
    with httpx2.Client(follow_redirects=False, timeout=30) as browser:
        to_signup = browser.get(f"{url['web']}/login?signup=true").headers["location"]
        assert to_signup.startswith(f"{url['auth']}/signup?next=%2Fauthorize")
        made = form(browser, to_signup, {"email": "ada@example.dk", "name": "Ada", "password": "correct horse battery"})
        assert made.status_code == 303, made.text[:300]
        authorize = urljoin(url["auth"], made.headers["location"])
        consent = form(browser, authorize, {"decision": "allow"})
        assert consent.status_code == 302, (authorize, consent.status_code, consent.text[:300])
        back = consent.headers["location"]
        query = {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}
        assert back.startswith(f"{url['web']}/callback?") and query["iss"] == url["auth"], back
        forged = browser.get(f"{url['web']}/callback", params={**query, "state": "forged"})
        assert forged.status_code == 400  # a state it never gave out
        signed_in = browser.get(back)
        assert signed_in.status_code == 303 and "origin_web" in signed_in.cookies, signed_in.text[:300]
        session = browser.get(f"{url['web']}/session").json()
        assert session["signed_in"] and session["name"] == "Ada"
        account = browser.get(f"{url['web']}/api/accounts/v1/account")
        assert account.status_code == 200 and account.json()["name"] == "Ada", account.text  # opened on sign-in
        unchecked = browser.post(f"{url['web']}/api/accounts/v1/transfers", json={})
        assert unchecked.status_code == 401  # no CSRF header: refused before it reaches the service
        answer = browser.get(f"{url['web']}/api/datahub/v1/meters")
        assert answer.status_code == 403  # Ada has no DataHub identity yet: the service says so; she stays signed in
        genesis = browser.get(f"{url['web']}/api/ledger/v1/genesis")
        assert genesis.status_code == 200 and genesis.json()["ledger"] == "layout.test/dk"
