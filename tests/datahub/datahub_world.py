"""What the DataHub tests share: a period, a fleet of fake meters, a real ledger node reached
over HTTP, and a stand-in for SIGKILL."""

from fastapi.testclient import TestClient

from origin.datahub import synthetic
from origin.ledger.api import create_app
from origin.ledger.sqlite import SQLiteStore
from origin.protocol.canonical import parse
from origin.protocol.times import parse_time
from world import Key, make_node

BEGIN, END = parse_time("2025-10-25T22:00:00Z"), parse_time("2025-10-26T23:00:00Z")  # a 25-hour day
FLEET = synthetic.fleet(8)


class Kill(BaseException):
    """Stands in for SIGKILL: nothing after it runs."""


class Ledger:
    """A real ledger node, reached as the importer reaches it: POST over HTTP."""

    def __init__(self, path, issuer: Key):
        self.node = make_node(SQLiteStore(path), [issuer.public.hex()])
        self.node.start()
        self.client = TestClient(create_app(self.node))
        self.kill_before, self.kill_after, self.posts = None, None, 0

    def post(self, method, url, body=None, timeout=None, headers=None):
        self.posts += 1
        if self.posts == self.kill_before:
            raise Kill()
        r = self.client.post(url.removeprefix("http://ledger"), content=body)
        if self.posts == self.kill_after:
            raise Kill()
        return r.status_code, r.content

    def publications(self) -> list[str]:
        """Every address a publish_measurement in the log wrote."""
        found = []
        for seq in range(1, self.node.store.size()):
            found += [t["payload"]["address"] for t in parse(self.node.store.entry(seq))["batch"]["transactions"]
                      if t["type"] == "publish_measurement"]  # fmt: skip
        return found
