"""Crash soak: run a ledger node as its own process, submit batches from concurrent clients,
kill the node with SIGKILL at random moments, restart it, and check after every restart that
- every batch ever answered COMMITTED is COMMITTED at the same seq, and its entry holds it;
- `origin ledger replay` agrees with the stored state and the latest checkpoint (so no batch
  is half applied: the state is exactly the replay of whole entries);
- the new checkpoint is signed by the log key and consistent (RFC 9162) with every checkpoint
  published before any kill.

Used by bench/crash_soak.py (100 kills) and by the test suite (a few).
"""

import base64
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from origin.client import http
from origin.protocol import addresses, keys, merkle, note
from origin.protocol import transactions as tx
from origin.protocol.canonical import canonical, parse
from origin.protocol.times import format_time
from origin.server import in_thread

READY_S_MAX = 60.0
PERIOD_S = 3600


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(app: Any, port: int | None = None) -> Iterator[str]:
    """An ASGI app on a real port of this machine, in a thread of this process; its URL."""
    server, stop = in_thread(app, "127.0.0.1", port or free_port())
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        stop()


def wait_answering(url: str, process: subprocess.Popen, what: str) -> None:
    """Until GET `url` answers 200; RuntimeError if the process exits first."""
    while True:
        try:
            if http("GET", url, timeout=1)[0] == 200:
                return
        except OSError:
            time.sleep(0.1)
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")


class NodeProcess:
    """`origin ledger serve` in a process of its own."""

    def __init__(self, data: Path, database: str | None, port: int | None = None, cpus: set[int] | None = None):
        """`cpus`: the CPUs the node (and its verification workers) may run on; all when None."""
        self.data, self.database = data, database
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-c", "from origin.cli import main; main()", "ledger", "serve",
                   "--data", str(data), "--port", str(self.port)]  # fmt: skip
        if database:
            command += ["--database", database]
        self.log = open(data / f"node-{self.port}.log", "ab")  # noqa: SIM115 (open while the process runs)
        pin = None if cpus is None else (lambda: os.sched_setaffinity(0, cpus))
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=pin)  # noqa: PLW1509

    def role(self) -> str | None:
        try:
            status, body = http("GET", f"{self.url}/healthz", timeout=2)
        except OSError:
            return None
        return json.loads(body)["role"] if status == 200 else None

    def wait_role(self, role: str, timeout_s: float = READY_S_MAX) -> float:
        """Seconds until the node answers with this role."""
        started = time.monotonic()
        while self.role() != role:
            if self.process.poll() is not None:
                raise RuntimeError(f"the node exited with {self.process.returncode}; see {self.log.name}")
            if time.monotonic() - started > timeout_s:
                raise RuntimeError(f"the node did not become {role} in {timeout_s} s")
            time.sleep(0.05)
        return time.monotonic() - started

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.log.close()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()

    def replay(self) -> subprocess.CompletedProcess[str]:
        return replay(self.data, self.database)


def replay(data: Path, database: str | None) -> subprocess.CompletedProcess[str]:
    """`origin ledger replay` of a ledger, run as its own process."""
    command = [sys.executable, "-c", "from origin.cli import main; main()", "ledger", "replay", "--data", str(data)]
    command += ["--database", database] if database else []
    return subprocess.run(command, capture_output=True, text=True, check=False)


class Client:
    """Makes valid batches: a production measurement with its GGO, and transfers of its own
    GGOs that earlier batches committed."""

    def __init__(self, ledger: str, issuer_key: bytes, rng: random.Random, measurements=(1, 20)):
        self.ledger, self.issuer_key, self.rng = ledger, issuer_key, rng
        self.measurements = measurements  # how many a batch publishes and issues, at least and most
        self.owned: list[bytes] = []  # keys of committed GGOs not yet spent
        self.first_hour = int(time.time()) // PERIOD_S - 24  # recent: far from expiry
        self.hour = rng.randrange(1_000_000)

    def batch(self) -> tuple[dict, list[bytes]]:
        """A batch, and the keys of the GGOs it creates."""
        txs, created = [], []
        for _ in range(self.rng.randint(*self.measurements)):
            if self.owned and self.rng.random() < 0.3:
                key, receiver = self.owned.pop(), self.rng.randbytes(32)
                to = addresses.address(addresses.GGO, keys.public_key(receiver))
                txs.append(
                    tx.transfer_ggo(self.ledger, key, ggo=addresses.address(addresses.GGO, keys.public_key(key)), to=to)
                )
                created.append(receiver)
                continue
            key = self.rng.randbytes(32)
            public = keys.public_key(key)
            measurement = addresses.address(addresses.MEASUREMENT, public)
            self.hour += 1
            begin = (self.first_hour + self.hour % 2000) * PERIOD_S
            txs += tx.publish_and_issue(
                self.ledger, self.issuer_key, address=measurement, begin=format_time(begin),
                end=format_time(begin + PERIOD_S), sector="DK1", type=tx.PRODUCTION,
                amount=self.rng.randint(1, 10_000), tech_type="T020000", fuel_type="F01050100")  # fmt: skip
            created.append(key)
        return tx.batch(*txs), created


@dataclass
class Soak:
    data: Path
    database: str | None
    issuer_key: bytes
    ledger: str
    log_key: note.Verifier
    clients: int = 8
    seed: int = 1
    committed: dict = field(default_factory=dict)  # batch id -> (seq, canonical batch)
    checkpoints: dict = field(default_factory=dict)  # size -> root, every one seen
    kills: int = 0
    answered: int = 0
    errors: list = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.Lock()
        self._rng = random.Random(self.seed)

    # Checks after a restart

    def check(self, url: str) -> None:
        """Raise AssertionError naming the first broken promise."""
        for batch_id, (seq, body) in self.committed.items():
            status, answer = http("GET", f"{url}/v1/batches/{batch_id}")
            outcome = json.loads(answer)
            assert outcome.get("status") == "COMMITTED" and outcome.get("seq") == seq, (
                f"batch {batch_id} was answered COMMITTED at {seq}, now {outcome}"
            )
            status, entry = http("GET", f"{url}/v1/entries/{seq}")
            assert status == 200 and canonical(parse(entry)["batch"]) == body, f"entry {seq} lost its batch"
        status, signed = http("GET", f"{url}/v1/checkpoint")
        latest = note.Checkpoint.parse(note.open_note(signed.decode(), self.log_key))
        for size, root in sorted(self.checkpoints.items()):
            assert size <= latest.size, f"the log shrank from {size} to {latest.size}"
            _, proof = http("GET", f"{url}/v1/proofs/consistency?from={size}&to={latest.size}")
            hashes = [base64.b64decode(h) for h in json.loads(proof)["hashes"]]
            assert merkle.verify_consistency(size, latest.size, root, latest.root, hashes), (
                f"checkpoint {latest.size} is not consistent with checkpoint {size} published earlier"
            )
        self.checkpoints[latest.size] = latest.root
        done = replay(self.data, self.database)
        assert done.returncode == 0, f"replay disagrees: {done.stdout}{done.stderr}"

    # Load while the node runs

    def _client(self, url: str, client: Client, stop: threading.Event) -> None:
        while not stop.is_set():
            body, created = client.batch()
            data = canonical(body)
            try:
                status, answer = http("POST", f"{url}/v1/batches?wait=true", data)
            except OSError:
                return  # the node is gone
            if status == 503:
                time.sleep(0.05)
                continue
            outcome = json.loads(answer)
            if outcome.get("status") == "COMMITTED":
                with self._lock:
                    self.committed[outcome["id"]] = (outcome["seq"], data)
                    self.answered += 1
                client.owned.extend(created)
            elif outcome.get("status") != "PENDING":
                with self._lock:
                    self.errors.append(outcome)  # the soak's batches are valid: a bug

    def _watch_checkpoints(self, url: str, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                status, signed = http("GET", f"{url}/v1/checkpoint", timeout=2)
            except OSError:
                return
            if status == 200:
                cp = note.Checkpoint.parse(note.open_note(signed.decode(), self.log_key))
                with self._lock:
                    self.checkpoints[cp.size] = cp.root
            time.sleep(0.02)

    def round(self, run_s: float) -> None:
        """Start the node, check it, load it until a first batch is answered COMMITTED and then
        for up to run_s more, and kill it: every round kills a node that has committed."""
        node = NodeProcess(self.data, self.database)
        stop, threads = threading.Event(), []
        try:
            node.wait_role("active")
            self.check(node.url)
            clients = [Client(self.ledger, self.issuer_key, random.Random(self._rng.random()))
                       for _ in range(self.clients)]  # fmt: skip
            threads = [threading.Thread(target=self._client, args=(node.url, c, stop)) for c in clients]
            threads.append(threading.Thread(target=self._watch_checkpoints, args=(node.url, stop)))
            answered = self.answered
            for t in threads:
                t.start()
            deadline = time.monotonic() + READY_S_MAX
            while self.answered == answered and not self.errors:
                assert time.monotonic() < deadline, "no batch was committed"
                time.sleep(0.01)
            time.sleep(self._rng.uniform(0, run_s))
        finally:
            node.kill()
            stop.set()
            for t in threads:
                t.join()
        self.kills += 1

    def final_check(self) -> None:
        node = NodeProcess(self.data, self.database)
        try:
            node.wait_role("active")
            self.check(node.url)
        finally:
            node.stop()


class Load:
    """Clients that submit (resubmitting on 503 or a broken connection, as the protocol lets
    them) and readers, until stopped; what each saw."""

    def __init__(self, url: str, ledger: str, issuer_key: bytes, clients: int = 4, readers: int = 2):
        self.url, self.stop = url, threading.Event()
        self.committed: dict[str, int] = {}  # batch id -> seq
        self.read_failures = self.reads = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._submit, args=(Client(ledger, issuer_key, random.Random(i)),))
                        for i in range(clients)]  # fmt: skip
        self.threads += [threading.Thread(target=self._read) for _ in range(readers)]
        for t in self.threads:
            t.start()

    def _submit(self, client: Client) -> None:
        while not self.stop.is_set():
            body, created = client.batch()
            data = canonical(body)
            while not self.stop.is_set():
                try:
                    status, answer = http("POST", f"{self.url}/v1/batches?wait=true", data, timeout=40)
                except OSError:
                    status, answer = 0, b""
                outcome = json.loads(answer) if status == 200 else {}
                if outcome.get("status") == "COMMITTED":
                    with self.lock:
                        self.committed[outcome["id"]] = outcome["seq"]
                    client.owned.extend(created)
                    break
                assert outcome.get("status") != "INVALID", outcome
                time.sleep(0.05)

    def _read(self) -> None:
        while not self.stop.is_set():
            try:
                ok = http("GET", f"{self.url}/v1/checkpoint", timeout=10)[0] == 200
            except OSError:
                ok = False
            with self.lock:
                self.reads += 1
                self.read_failures += not ok
            time.sleep(0.01)

    def count(self) -> int:
        with self.lock:
            return len(self.committed)

    def wait_for_more(self, than: int, timeout_s: float) -> float:
        """Seconds until more than `than` batches are COMMITTED."""
        started = time.monotonic()
        while self.count() <= than:
            assert time.monotonic() - started < timeout_s, f"no commit within {timeout_s} s"
            time.sleep(0.01)
        return time.monotonic() - started

    def end(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)
