"""The `origin` command: the exact forms of the issue, and one-line refusals."""

import base64
import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from click.testing import CliRunner

from origin.cli import main
from origin.client import http
from origin.demo import LEFT_TO_ADD, NAMES, YEAR_FILE, access_token
from origin.ledger import data as ledger_data
from origin.ledger.node import Node
from origin.protocol import keys
from origin.protocol import transactions as tx
from origin.protocol.canonical import canonical
from origin.protocol.transactions import decode_batch
from world import Key


def run(*args):
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def issuer():
    return keys.new_private_key()


def test_keys_new():
    out = json.loads(run("keys", "new").output)
    assert out["xprv"].startswith("xprv") and out["xpub"].startswith("xpub")
    assert keys.is_public_key(bytes.fromhex(out["public_key"]))


def test_init_with_defaults(tmp_path, issuer):
    r = run("ledger", "init", "--data", str(tmp_path / "l"), "--ledger-id", "dk.test",
            "--issuer", keys.public_key(issuer).hex())  # fmt: skip
    assert r.exit_code == 0, r.output
    genesis = json.loads(r.output)
    assert genesis["sectors"] == ["DK1", "DK2"] and genesis["resolutions_s"] == [3600, 900]
    assert genesis["ggo_lifetime_s"] == 31536000 and genesis["log_key"].startswith("dk.test+")
    assert oct(os.stat(tmp_path / "l" / "log.key").st_mode & 0o777) == "0o600"


def test_init_with_settings(tmp_path, issuer):
    r = run("ledger", "init", "--data", str(tmp_path), "--ledger-id", "se", "--issuer",
            keys.public_key(issuer).hex(), "--issuer", keys.public_key(keys.new_private_key()).hex(),
            "--sector", "SE3", "--resolution-s", "900", "--ggo-lifetime-s", "86400")  # fmt: skip
    genesis = json.loads(r.output)
    assert len(genesis["issuers"]) == 2 and genesis["sectors"] == ["SE3"]
    assert genesis["resolutions_s"] == [900] and genesis["ggo_lifetime_s"] == 86400


@pytest.mark.parametrize(
    "args,message",
    [
        (["--ledger-id", "x", "--issuer", "02ab"], "not a compressed secp256k1 public key"),
        (["--ledger-id", "has space", "--issuer", "KEY"], "ledger id"),
        (["--ledger-id", "x", "--issuer", "KEY", "--resolution-s", "30"], "resolutions_s"),
        (["--ledger-id", "x", "--issuer", "KEY", "--ggo-lifetime-s", "0"], "ggo_lifetime_s"),
    ],
)
def test_init_refusals(tmp_path, issuer, args, message):
    args = [a.replace("KEY", keys.public_key(issuer).hex()) for a in args]
    r = run("ledger", "init", "--data", str(tmp_path / "l"), *args)
    assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output


def test_init_refuses_an_existing_ledger(tmp_path, issuer):
    args = ["ledger", "init", "--data", str(tmp_path), "--ledger-id", "x", "--issuer", keys.public_key(issuer).hex()]
    assert run(*args).exit_code == 0
    r = run(*args)
    assert r.exit_code == 2 and "already holds a ledger" in r.output


def test_serve_and_replay_refuse_missing_folders(tmp_path):
    for command in ("serve", "replay"):
        r = run("ledger", command, "--data", str(tmp_path / "missing"))
        assert r.exit_code == 2 and "is not a folder" in r.output
        r = run("ledger", command, "--data", str(tmp_path))
        assert r.exit_code == 2 and "holds no ledger" in r.output


def test_replay_says_whether_state_and_root_agree(tmp_path, issuer):
    ledger_data.init(tmp_path, "x", [keys.public_key(issuer).hex()])
    store, signer = ledger_data.open_store(tmp_path)
    node = Node(store, signer)
    t = tx.publish_measurement("x", issuer, address=Key().measurement, begin="2026-01-01T00:00:00Z",
                               end="2026-01-01T01:00:00Z", sector="DK1", type="PRODUCTION", amount=7)  # fmt: skip
    node.commit_group([decode_batch(canonical(tx.batch(t)), "x")])
    store.close()
    r = run("ledger", "replay", "--data", str(tmp_path))
    assert r.exit_code == 0 and "matches the stored state" in r.output and "root matches" in r.output
    db = sqlite3.connect(tmp_path / "ledger.db")
    db.execute("DELETE FROM records")
    db.commit()
    db.close()
    r = run("ledger", "replay", "--data", str(tmp_path))
    assert r.exit_code == 1 and "DIFFERS" in r.output and "not stored" in r.output


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_runs_the_api(tmp_path, issuer):
    ledger_data.init(tmp_path, "served", [keys.public_key(issuer).hex()])
    port = free_port()
    origin = [sys.executable, "-c", "from origin.cli import main; main()"]
    proc = subprocess.Popen([*origin, "ledger", "serve", "--data", str(tmp_path), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/genesis") as r:
                    genesis = json.loads(r.read())
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, proc.stdout.read()
                time.sleep(0.1)
        assert genesis["ledger"] == "served"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_an_answer_that_breaks_off_is_a_connection_error():
    """A server killed mid-answer: callers handle it as they handle an unreachable one."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def answer_half():
        conn, _ = server.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
        conn.close()

    threading.Thread(target=answer_half, daemon=True).start()
    with pytest.raises(OSError, match="broke off"):
        http("GET", f"http://127.0.0.1:{server.getsockname()[1]}/x", timeout=5)
    server.close()


def wait_for_file(path, proc, timeout_s=300):
    """Until `path` exists; on a timeout or an exit, the process's output (ended first, so that
    reading it cannot wait for ever)."""
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise AssertionError(
                f"{path.name} did not appear: {proc.communicate()[0].decode(errors='replace')[-3000:]}"
            )
        time.sleep(0.2)


def assert_oauth_reaches_the_demo(origin: list[str], data, port: int, auth_port: int) -> None:
    """A demo customer's app, registered at the demo's authorization server, reads the
    customer's data from the account service with an access token."""
    sign_in = json.loads((data / "demo-keys.json").read_text())["sign_ins"]["customer-2"]
    made = subprocess.run([*origin, "auth", "register-client", "--data", str(data / "auth"), "--owner",
                           sign_in["email"], "--name", "Test app", "--scope", "ggo.read", "--client-credentials"],
                          capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    client = json.loads(made.stdout)
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    request = urllib.request.Request(f"http://127.0.0.1:{auth_port}/token", data=b"grant_type=client_credentials",
                                     headers={"Authorization": f"Basic {basic}"})  # fmt: skip
    with urllib.request.urlopen(request) as r:
        token = json.loads(r.read())["access_token"]
    request = urllib.request.Request(f"http://127.0.0.1:{port}/accounts/v1/account",
                                     headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    with urllib.request.urlopen(request) as r:
        assert json.loads(r.read())["name"] == NAMES["customer-2"]


def test_the_demo_runs_and_an_interrupted_first_run_begins_again(tmp_path):
    """The README's first command: the platform with demo data, the owners' trades done; a first
    run cut short is made anew on the next; a busy port is said before anything listens."""
    origin = [sys.executable, "-c", "from origin.cli import main; main()"]
    data, port, auth_port = tmp_path / "demo", free_port(), free_port()
    ports = ["--port", str(port), "--auth-port", str(auth_port), "--history-days", "3"]
    for round_ in ("first", "after an interrupted first run"):
        proc = subprocess.Popen([*origin, "demo", "--data", str(data), *ports],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            wait_for_file(data / "traded", proc)
            operator = access_token(data, "operator")  # as the demo's scripts get theirs: client credentials
            request = urllib.request.Request(f"http://127.0.0.1:{port}/datahub/v1/meters",
                                             headers={"Authorization": f"Bearer {operator}"})  # fmt: skip
            with urllib.request.urlopen(request) as r:
                meters = json.loads(r.read())["meters"]
            waiting = {m["gsrn"]: m["waiting_for"] for m in meters if m["waiting_for"]}
            assert meters and list(waiting) == [LEFT_TO_ADD], round_  # its owner adds it in the web app
            consumer = access_token(data, "customer-2")
            request = urllib.request.Request(f"http://127.0.0.1:{port}/accounts/v1/measurements?type=CONSUMPTION",
                                             headers={"Authorization": f"Bearer {consumer}"})  # fmt: skip
            with urllib.request.urlopen(request) as r:
                consumption = json.loads(r.read())["measurements"]
            assert sum(m["retired_wh"] for m in consumption) > 0, round_  # the day's trades went through
            assert_oauth_reaches_the_demo(origin, data, port, auth_port)
            wait_for_file(data / YEAR_FILE, proc)  # three days behind the last two, in the background
            busy = subprocess.run([*origin, "demo", "--data", str(data), *ports], capture_output=True,
                                  text=True, timeout=60, check=False)  # fmt: skip
            assert busy.returncode == 2 and "in use" in busy.stderr and "API on" not in busy.stderr
        finally:
            proc.terminate()
            assert proc.wait(timeout=30) == 0
        for cut_short in ("prepared", "traded", "datahub/datahub.json"):  # as if the first run had been cut short
            (data / cut_short).unlink()
