"""Self-custody: the account holds only xpubs; the service prepares each transaction, the owner
signs its digest with their own key (here as the worked example in docs/accounts.md does)."""

import types
import urllib.request
from pathlib import Path

from accounts_world import FLEET

from origin.protocol import keys
from origin.protocol.wallet import Wallet


def private_key(wallet: Wallet, path: str) -> bytes:
    """The key at a path such as m/1'/0'/29348160, from the owner's own wallet."""
    steps = [int(p[:-1]) + 2**31 if p.endswith("'") else int(p) for p in path.split("/")[1:]]
    return wallet.private_key(steps)


def self_custody_producer(world):
    wallet = Wallet.generate()
    account = world.open_account("Own keys Ltd", "customer-0", master_xpub=wallet.xpub,
                                 receive_xpub=wallet.receive_xpub())  # fmt: skip
    assert account["custody"] == "self"
    mine = [m for m in FLEET if m.owner == "customer-0"]
    refused = world.post(account, "/v1/meters", {"gsrn": mine[0].gsrn})
    assert refused.status_code == 422 and "meter_xpub" in refused.json()["error"]["message"]
    for i, m in enumerate(mine):
        r = world.post(account, "/v1/meters", {"gsrn": m.gsrn, "meter_xpub": wallet.meter_xpub(i)})
        assert r.status_code == 201, r.text
    return wallet, account


def test_the_owner_signs_what_the_service_prepares(world):
    wallet, producer = self_custody_producer(world)
    consumer = world.open_account("Household Co", "customer-2")
    world.import_and_follow()
    ggo = next(g for g in world.get(producer, "/v1/ggos", state="available")["ggos"] if g["amount_wh"] > 5)
    op = world.post(producer, "/v1/transfers", {"ggo": ggo["address"], "to": {"account": consumer["id"]},
                                                "amount_wh": 5}).json()  # fmt: skip
    assert op["status"] == "UNSIGNED" and [t["document"]["type"] for t in op["to_sign"]] == ["split_ggo"]
    assert world.get(producer, f"/v1/ggos/{ggo['address']}")["state"] == "reserved"
    signatures = [keys.sign(private_key(wallet, t["path"]), bytes.fromhex(t["digest"])).hex() for t in op["to_sign"]]
    bad = world.post(producer, f"/v1/operations/{op['id']}/signatures", {"signatures": ["00" * 64]})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "bad_signature"
    short = world.post(producer, f"/v1/operations/{op['id']}/signatures", {"signatures": []})
    assert short.status_code == 400
    done = world.post(producer, f"/v1/operations/{op['id']}/signatures", {"signatures": signatures})
    assert done.status_code == 200 and done.json()["status"] == "COMMITTED", done.text
    assert [g["amount_wh"] for g in world.get(consumer, "/v1/ggos")["ggos"]] == [5]
    change = [g for g in world.get(producer, "/v1/ggos", state="available")["ggos"] if g["source"] == "change"]
    assert [g["amount_wh"] for g in change] == [ggo["amount_wh"] - 5]
    again = world.post(producer, f"/v1/operations/{op['id']}/signatures", {"signatures": signatures})
    assert again.status_code == 409


def test_an_unsigned_operation_can_be_cancelled(world):
    _, producer = self_custody_producer(world)
    world.import_and_follow()
    ggo = world.get(producer, "/v1/ggos", state="available")["ggos"][0]
    op = world.post(producer, "/v1/splits", {"ggo": ggo["address"], "amounts_wh": [1, ggo["amount_wh"] - 1]}).json()
    assert op["status"] == "UNSIGNED"
    assert world.api.delete(f"/v1/operations/{op['id']}", headers=world.as_(producer["token"])).status_code == 204
    assert world.get(producer, f"/v1/ggos/{ggo['address']}")["state"] == "available"


class _Answer:
    def __init__(self, response):
        self.response = response

    def __enter__(self):
        assert self.response.status_code < 400, self.response.text
        return self

    def __exit__(self, *exc):
        return False

    def read(self):
        return self.response.content


def test_the_worked_example_in_the_docs_runs(world):
    """docs/accounts.md's self-custody example, run as written against the service."""
    text = (Path(__file__).parents[2] / "docs" / "accounts.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    setup, rest = code.split("# Later:", 1)

    def urlopen(request):
        return _Answer(world.api.request(request.method, request.full_url.removeprefix("http://accounts"),
                                         content=request.data, headers=dict(request.header_items())))  # fmt: skip

    shim = types.SimpleNamespace(request=types.SimpleNamespace(Request=urllib.request.Request, urlopen=urlopen))
    buyer = world.open_account("Buyer")
    token = world.issuer.owner("acc_" + "0f" * 8, "customer-0")
    names = {"URL": "http://accounts", "TOKEN": token, "BUYER": buyer["id"]}
    scope = {**names, "urllib": shim}
    exec(setup.replace("import json, urllib.request", "import json"), scope)
    world.import_and_follow()
    ggo = next(g for g in world.get({"token": token}, "/v1/ggos", state="available")["ggos"] if g["amount_wh"] > 500)
    printed: list[str] = []
    exec("# Later:" + rest, {**scope, "GGO": ggo["address"], "print": printed.append})
    assert printed == ["COMMITTED"]
