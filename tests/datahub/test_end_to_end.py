"""End to end, in real processes: a fake DataHub, a ledger node, and `origin datahub import`
killed with SIGKILL half-way, then run again: nothing published twice, nothing missed."""

import json
import signal
import subprocess
import sys
import time

from sqlalchemy import select

from harness.soak import NodeProcess, free_port
from origin.client import http
from origin.datahub import db, meters, service, synthetic
from origin.ledger import data as ledger_data
from origin.protocol.canonical import parse
from origin.protocol.wallet import Wallet

ORIGIN = [sys.executable, "-c", "from origin.cli import main; main()"]
WEEK = ["--from", "2025-10-20T00:00:00Z", "--to", "2025-10-27T00:00:00Z"]


def wait_until(condition, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_killed_import_resumes_and_publishes_everything_once(tmp_path):
    fake_port = free_port()
    fake = subprocess.Popen([*ORIGIN, "datahub", "fake", "--port", str(fake_port), "--meters", "8"])
    ledger_dir, service_dir = tmp_path / "ledger", tmp_path / "datahub"
    node = None
    try:
        made = service.init(service_dir, ledger_url="http://127.0.0.1:0", ledger_id="e2e.origin/dk",
                            datahub_url=f"http://127.0.0.1:{fake_port}/thirdpartyapi", refresh_token="fake-refresh-token",
                            auth_issuer="http://127.0.0.1:9")  # fmt: skip
        ledger_data.init(ledger_dir, "e2e.origin/dk", [made["issuer_public_key"]])
        node = NodeProcess(ledger_dir, None)
        node.wait_role("active")
        config_path = service_dir / service.CONFIG
        config = json.loads(config_path.read_text())
        config["ledger_url"] = node.url
        config_path.write_text(json.dumps(config))
        wait_until(lambda: _alive(fake_port))
        # The operator lists the authorisations' meters and sets the technologies (the CLI);
        # the owners give their xpubs (through the API; here straight into the service).
        subprocess.run([*ORIGIN, "datahub", "sync", "--data", str(service_dir)], check=True)
        owners, engine = {}, db.connect(f"sqlite:///{service_dir / 'datahub.db'}")
        for i, m in enumerate(synthetic.fleet(8)):
            _, tech, fuel, _ = synthetic.KINDS[m.kind]
            if tech:
                subprocess.run([*ORIGIN, "datahub", "meter", "set-technology", "--data", str(service_dir), m.gsrn,
                                "--tech-type", tech, "--fuel-type", fuel], check=True, capture_output=True)  # fmt: skip
            meters.set_xpub(engine, m.gsrn, owners.setdefault(m.owner, Wallet.generate()).meter_xpub(i), m.owner)
        engine.dispose()

        importer = subprocess.Popen([*ORIGIN, "datahub", "import", "--data", str(service_dir), *WEEK],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        wait_until(lambda: _size(node) >= 5 or importer.poll() is not None)
        assert importer.poll() is None, "the import finished before it could be killed"
        importer.send_signal(signal.SIGKILL)
        importer.wait()
        killed_at = _size(node)

        done = subprocess.run([*ORIGIN, "datahub", "import", "--data", str(service_dir), *WEEK],
                              capture_output=True, text=True, check=False)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        published = _publications(node)
        engine = db.connect(f"sqlite:///{service_dir / 'datahub.db'}")
        with engine.connect() as conn:
            stored = [r.address for r in conn.execute(select(db.measurements.c.address))]
        engine.dispose()
        assert _size(node) > killed_at and len(stored) > 1000
        assert len(published) == len(set(published)) and sorted(published) == sorted(stored)
    finally:
        fake.terminate()
        fake.wait()
        if node is not None:
            node.stop()


def _alive(port) -> bool:
    try:
        return http("GET", f"http://127.0.0.1:{port}/thirdpartyapi/api/isalive", timeout=1)[0] == 200
    except OSError:
        return False


def _size(node) -> int:
    return json.loads(http("GET", f"{node.url}/healthz")[1])["size"]


def _publications(node) -> list[str]:
    found = []
    for seq in range(1, _size(node)):
        entry = parse(http("GET", f"{node.url}/v1/entries/{seq}")[1])
        found += [t["payload"]["address"] for t in entry["batch"]["transactions"] if t["type"] == "publish_measurement"]
    return found
