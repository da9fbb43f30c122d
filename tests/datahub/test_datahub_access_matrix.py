"""Every endpoint of the DataHub service, as its OpenAPI document lists them, against the
authorization server's access tokens: no token, an expired one, one for another audience, one
from another issuer, one without the endpoint's scope, and another owner's with every scope.
An endpoint added without a scope check fails here."""

import json

from auth_world import mint
from datahub_world import BEGIN, END, FLEET
from fastapi.testclient import TestClient

from origin.auth import service as auth_service
from origin.auth.oauth import DATAHUB, SCOPES
from origin.bearer import Bearers, JwksAuthenticator
from origin.datahub import auth, meters
from origin.datahub.api import create_datahub_app

ISSUER = "http://127.0.0.1:4444"
EVERY_SCOPE = " ".join(s for s in SCOPES if s != "operator")
SECTORS = frozenset({"DK1", "DK2"})


def test_every_endpoint_checks_the_token_its_scope_and_whose_data(setup, tmp_path):
    importer, _, engine, _, _ = setup
    importer().run(BEGIN, END)
    auth_service.init(tmp_path / "auth", issuer=ISSUER)
    issuer = auth_service.Service(tmp_path / "auth")
    jwks = TestClient(issuer.app())
    oauth = JwksAuthenticator(ISSUER, DATAHUB, lambda url: json.loads(jwks.get(url.removeprefix(ISSUER)).content),
                              auth.principal)  # fmt: skip
    api = TestClient(create_datahub_app(engine, Bearers(auth.tokens(engine), oauth), lambda: SECTORS,
                                        meters.SyncReport, allow_private_webhooks=True))  # fmt: skip

    def as_(scope: str, owner: str = "customer-0", **shape) -> dict:
        return {
            "Authorization": f"Bearer {mint(issuer, scope, aud=shape.pop('aud', DATAHUB), datahub_owner=owner, **shape)}"
        }

    mine = next(m for m in FLEET if m.owner == "customer-0")
    address = api.get("/v1/measurements", headers=as_("measurements.read")).json()["measurements"][0]["address"]
    hook = api.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/in", "secret": "s" * 20},
                    headers=as_("measurements.read"))  # fmt: skip
    assert hook.status_code == 201, hook.text
    values = {"gsrn": mine.gsrn, "address": address, "webhook_id": str(hook.json()["id"])}
    checked = 0
    for path, methods in create_datahub_app(engine, auth.tokens(engine), lambda: SECTORS,
                                            meters.SyncReport).openapi()["paths"].items():  # fmt: skip
        for method, spec in methods.items():
            assert spec.get("security"), (method, path, "every endpoint is protected")
            url = path
            for name, value in values.items():
                url = url.replace("{" + name + "}", value)
            cases = {"no token": ({}, 401), "expired": (as_(EVERY_SCOPE, exp_in=-10), 401),
                     "wrong audience": (as_(EVERY_SCOPE, aud="origin-accounts"), 401),
                     "wrong issuer": (as_(EVERY_SCOPE, iss="https://evil.example"), 401),
                     "no scope": (as_("openid profile"), 403)}  # fmt: skip
            for case, (headers, status) in cases.items():
                r = api.request(method.upper(), url, headers=headers, json={})
                assert r.status_code == status, (method, path, case, r.status_code, r.text[:200])
            r = api.request(method.upper(), url, headers=as_(EVERY_SCOPE, owner="customer-1"), json={})
            if r.status_code < 300:
                assert mine.gsrn not in r.text and address not in r.text, (method, path, "another owner's data shown")
            checked += 1
    assert checked >= 14
    issuer.stop()
