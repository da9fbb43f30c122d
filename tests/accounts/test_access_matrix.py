"""Every endpoint of the account service, as its OpenAPI document lists them, against access
tokens: none, an expired one, one for another audience, one from another issuer, one signed by a
key the issuer never published, one without the endpoint's scope, and another user's with every
scope. An endpoint added without a scope check fails here."""

from fastapi.testclient import TestClient
from joserfc.jwk import ECKey

from harness.issuer import OWNER_SCOPES as EVERY_SCOPE
from origin.auth.oauth import ACCOUNTS, DATAHUB

FORGED = ECKey.generate_key("P-256", parameters={"kid": "forged"}, private=True)


def token(issuer, account: str, scope: str, **shape) -> str:
    return issuer.token(
        scope, aud=shape.pop("aud", (ACCOUNTS, DATAHUB)), account=account, sub=f"usr_{account[-8:]}", **shape
    )


def filled(path: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    return path


def test_every_endpoint_checks_the_token_its_scope_and_whose_data(world):
    auth = world.issuer
    owner, other = world.producer_and_consumer()
    ggo = world.get(owner, "/v1/ggos")["ggos"][0]["address"]
    meter = world.get(owner, "/v1/meters")[0]["gsrn"]
    done = world.post(owner, "/v1/transfers", {"ggo": ggo, "to": {"account": other["id"]}, "amount_wh": 1}).json()
    offer = world.post(owner, "/v1/agreements", {"receiver": {"account": other["id"]}, "begin": "2025-10-01T00:00:00Z",
                                                 "rule": "cap", "rule_value": 5}).json()  # fmt: skip
    stranger = world.open_account("Stranger")
    values = {"address": ggo, "gsrn": meter, "op": done["id"], "agreement": offer["id"], "action": "accept",
              "what": "ggos", "webhook_id": "1"}  # fmt: skip
    owners_marks = (owner["id"], ggo, done["id"], offer["id"])
    api = TestClient(world.service.app())
    paths = world.service.app().openapi()["paths"]
    checked = 0
    for path, methods in paths.items():
        for method, spec in methods.items():
            if not spec.get("security"):
                continue  # public: the receive notification
            url = filled(path, values)
            cases = {
                "no token": ({}, 401),
                "expired": ({"Authorization": f"Bearer {token(auth, owner['id'], EVERY_SCOPE, exp_in=-10)}"}, 401),
                "wrong audience": ({"Authorization": f"Bearer {token(auth, owner['id'], EVERY_SCOPE, aud=(DATAHUB,))}"}, 401),
                "forged": ({"Authorization": f"Bearer {token(auth, owner['id'], EVERY_SCOPE, key=FORGED)}"}, 401),
                "wrong issuer": ({"Authorization": f"Bearer {token(auth, owner['id'], EVERY_SCOPE, iss='https://evil.example')}"}, 401),
                "no scope": ({"Authorization": f"Bearer {token(auth, owner['id'], 'openid profile')}"}, 403),
            }  # fmt: skip
            if path == "/v1/accounts":
                cases["no scope"] = ({"Authorization": f"Bearer {token(auth, owner['id'], EVERY_SCOPE)}"}, 403)
            for case, (headers, status) in cases.items():
                r = api.request(method.upper(), url, headers=headers, json={})
                assert r.status_code == status, (method, path, case, r.status_code, r.text[:200])
            if path == "/v1/accounts":
                continue
            r = api.request(method.upper(), url, json={"ggo": ggo, "to": {"account": stranger["id"]}},
                            headers={"Authorization": f"Bearer {token(auth, stranger['id'], EVERY_SCOPE, datahub_owner='customer-3')}"})  # fmt: skip
            assert r.status_code not in (401, 403) or "{" in path, (method, path, r.status_code, r.text[:200])
            if r.status_code < 300:
                assert not any(mark in r.text for mark in owners_marks), (method, path, "another user's data shown")
            checked += 1
    assert checked >= 35
    assert world.get(owner, f"/v1/ggos/{ggo}")["state"] == "split"  # the stranger moved nothing of the owner's
    ours = TestClient(world.service.app())
    r = ours.get("/v1/ggos", headers={"Authorization": f"Bearer {token(auth, owner['id'], 'ggo.read')}"})
    assert r.status_code == 200 and ggo in r.text  # and the owner's own token works
