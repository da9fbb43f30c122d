"""Every endpoint of the DataHub service, as its OpenAPI document lists them, against access
tokens: none, an expired one, one for another audience, one from another issuer, one signed by a
key the issuer never published, one without the endpoint's scope, and another owner's with every
scope. An endpoint added without a scope check fails here."""

from datahub_world import BEGIN, END, FLEET, hub_api
from joserfc.jwk import ECKey

from harness.issuer import OWNER_SCOPES as EVERY_SCOPE
from harness.issuer import Issuer
from origin.auth.oauth import ACCOUNTS, DATAHUB

FORGED = ECKey.generate_key("P-256", parameters={"kid": "forged"}, private=True)


def test_every_endpoint_checks_the_token_its_scope_and_whose_data(setup):
    importer, _, engine, _, _ = setup
    importer().run(BEGIN, END)
    issuer = Issuer()
    api = hub_api(engine, issuer, importer(), allow_private_webhooks=True)

    def as_(scope: str, owner: str = "customer-0", **shape) -> dict:
        token = issuer.token(scope, aud=shape.pop("aud", (DATAHUB,)), datahub_owner=owner, **shape)
        return {"Authorization": f"Bearer {token}"}

    mine = next(m for m in FLEET if m.owner == "customer-0")
    address = api.get("/v1/measurements", headers=as_("measurements.read")).json()["measurements"][0]["address"]
    hook = api.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/in", "secret": "s" * 20},
                    headers=as_("measurements.read"))  # fmt: skip
    assert hook.status_code == 201, hook.text
    values = {"gsrn": mine.gsrn, "address": address, "webhook_id": str(hook.json()["id"])}
    checked = 0
    for path, methods in api.app.openapi()["paths"].items():
        for method, spec in methods.items():
            assert spec.get("security"), (method, path, "every endpoint is protected")
            url = path
            for name, value in values.items():
                url = url.replace("{" + name + "}", value)
            cases = {"no token": ({}, 401), "expired": (as_(EVERY_SCOPE, exp_in=-10), 401),
                     "wrong audience": (as_(EVERY_SCOPE, aud=(ACCOUNTS,)), 401),
                     "wrong issuer": (as_(EVERY_SCOPE, iss="https://evil.example"), 401),
                     "forged": (as_(EVERY_SCOPE, key=FORGED), 401),
                     "no scope": (as_("openid profile"), 403)}  # fmt: skip
            for case, (headers, status) in cases.items():
                r = api.request(method.upper(), url, headers=headers, json={})
                assert r.status_code == status, (method, path, case, r.status_code, r.text[:200])
            r = api.request(method.upper(), url, headers=as_(EVERY_SCOPE, owner="customer-1"), json={})
            if r.status_code < 300:
                assert mine.gsrn not in r.text and address not in r.text, (method, path, "another owner's data shown")
            checked += 1
    assert checked >= 14
