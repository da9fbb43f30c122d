"""Two account services, and a self-custody wallet, trading through receive endpoints: an xpub
the receiver publishes (m/0'), and a notify URL that only makes it see sooner."""

from fastapi.testclient import TestClient

from origin.protocol.wallet import Wallet, receive_address


def test_a_ggo_sent_to_another_services_account_arrives(world, databases):
    producer, _ = world.producer_and_consumer()
    other = world.another_service(databases())
    api = TestClient(other.app())
    made = world.open_account("Buyer elsewhere", api=api)
    endpoint = api.get("/v1/receive-endpoint", headers=world.as_(made["token"])).json()
    assert endpoint["xpub"] == made["receive_xpub"] and endpoint["notify_url"].endswith("/v1/notify")
    ggo = world.get(producer, "/v1/ggos", state="available")["ggos"][0]
    to = {"xpub": endpoint["xpub"], "notify_url": "http://accounts2/v1/notify"}
    world.service.config.allow_private = True
    r = world.post(producer, "/v1/transfers", {"ggo": ggo["address"], "to": to, "amount_wh": 3})
    assert r.json()["status"] == "COMMITTED", r.text
    second = world.post(producer, "/v1/transfers", {"ggo": r.json()["request"]["ggo"], "to": to})
    assert second.status_code == 409  # spent already
    change = world.get(producer, "/v1/ggos", state="available")["ggos"]
    whole = next(g for g in change if g["source"] == "change")
    assert world.post(producer, "/v1/transfers", {"ggo": whole["address"], "to": to}).json()["status"] == "COMMITTED"
    other.follow()  # what the notification woke; it would follow anyway
    got = api.get("/v1/ggos", headers=world.as_(made["token"])).json()["ggos"]
    assert sorted(g["amount_wh"] for g in got) == sorted([3, ggo["amount_wh"] - 3])
    assert {g["source"] for g in got} == {"received"} and {g["origin"] for g in got} == {
        ggo["address"],
        whole["address"],
    }
    # The receiver can spend what it received, at addresses after the ones the sender used.
    big = max(got, key=lambda g: g["amount_wh"])
    spend = api.post("/v1/splits", json={"ggo": big["address"], "amounts_wh": [1, big["amount_wh"] - 1]},
                     headers=world.as_(made["token"]))  # fmt: skip
    assert spend.json()["status"] == "COMMITTED", spend.text


def test_a_self_custody_wallet_receives_at_the_addresses_it_derives(world):
    producer, _ = world.producer_and_consumer()
    wallet = Wallet.generate()
    ggo = world.get(producer, "/v1/ggos", state="available")["ggos"][0]
    r = world.post(producer, "/v1/transfers", {"ggo": ggo["address"], "to": {"xpub": wallet.receive_xpub()}})
    assert r.json()["status"] == "COMMITTED", r.text
    status, _ = world.router("GET", f"http://ledger/v1/state/{receive_address(wallet.receive_xpub(), 0)}")
    assert status == 200  # the first receive address of the wallet's own derivation
