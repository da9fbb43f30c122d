"""OAuth 2.0 and OpenID Connect as a third party's app meets them, with Authlib's own client
over httpx2 against the real server: the code flow with PKCE, refresh rotation, client
credentials, revocation, introspection, metadata, keys; and RFC 9700's attacks."""

import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import pytest
from authlib.integrations.httpx_client import OAuthError
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet

from origin.auth.keys import PUBLISH_AHEAD_S
from origin.auth.oauth import ACCOUNTS, DATAHUB


def keys(world) -> KeySet:
    return KeySet.import_key_set(httpx2.get(f"{world.url}/jwks.json").json())


def claims_of(world, token: str) -> tuple[dict, dict]:
    found = jwt.decode(token, keys(world))
    return found.header, found.claims


def query_of(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_the_code_flow_with_pkce_gives_a_jwt_access_token_an_id_token_and_userinfo(world):
    ada = world.person("Ada")
    client = world.client(ada)
    app, token, _ = world.code_flow(ada, client, nonce="n-0S6_WzA2Mj")
    header, claims = claims_of(world, token["access_token"])
    user = world.svc.users.by_email(ada.email)
    assert header["typ"] == "at+jwt" and header["alg"] == "ES256" and header["kid"]
    assert claims["iss"] == world.url and claims["sub"] == user.id and claims["client_id"] == client["client_id"]
    assert claims["aud"] == [ACCOUNTS] and claims["scope"] == "openid profile offline_access ggo.read"
    assert claims["exp"] - claims["iat"] == 600 and token["refresh_token"]
    assert re.fullmatch(r"acc_[0-9a-f]{16}", claims["account"]) and claims["account"] == user.account  # at sign-up
    assert "datahub_owner" not in claims  # the operator's to link
    _, id_claims = claims_of(world, token["id_token"])
    assert id_claims["aud"] == [client["client_id"]] and id_claims["nonce"] == "n-0S6_WzA2Mj"
    assert id_claims["sub"] == user.id and id_claims["name"] == "Ada" and id_claims["iss"] == world.url
    info = app.get(f"{world.url}/userinfo").json()
    assert info == {"sub": user.id, "name": "Ada", "email": ada.email}


def test_a_public_client_uses_pkce_and_no_secret(world):
    ada = world.person()
    client = world.client(
        ada, public=True, redirect_uri="http://127.0.0.1:7777/cb", scope="ggo.read meteringpoints.read"
    )
    assert client["client_secret"] is None
    _, token, _ = world.code_flow(ada, client, scope="ggo.read meteringpoints.read")
    _, claims = claims_of(world, token["access_token"])
    assert sorted(claims["aud"]) == sorted([ACCOUNTS, DATAHUB]) and "refresh_token" not in token


def test_consent_is_remembered_and_revoked_under_connected_apps(world):
    ada = world.person()
    client = world.client(ada)
    _, token, _ = world.code_flow(ada, client)
    app = world.oauth(client)
    url, _ = app.create_authorization_url(f"{world.url}/authorize", code_verifier="c" * 50)
    assert ada.http.get(url).status_code == 302  # no page: consented before
    assert "Green App" in ada.http.get("/apps").text
    r = ada.post_form(f"/apps/{client['client_id']}/revoke", {}, csrf_from="/apps")
    assert r.status_code == 303
    assert "No app has access" in ada.http.get("/apps").text
    assert ada.http.get(url).status_code == 200  # asked again
    with pytest.raises(OAuthError, match="invalid_grant"):
        app.refresh_token(f"{world.url}/token", refresh_token=token["refresh_token"])


def test_deny_sends_access_denied_with_state_and_iss(world):
    ada = world.person()
    client = world.client(ada)
    app = world.oauth(client)
    url, state = app.create_authorization_url(f"{world.url}/authorize", code_verifier="d" * 50)
    back = query_of(ada.authorize(url, decision="deny"))
    assert (back["error"], back["state"], back["iss"]) == ("access_denied", state, world.url) and "code" not in back


def test_pkce_is_required_s256_only_and_checked(world):
    ada = world.person()
    client = world.client(ada)
    base = {"response_type": "code", "client_id": client["client_id"], "redirect_uri": client["redirect_uris"][0],
            "scope": "ggo.read", "state": "s1"}  # fmt: skip
    for extra in ({}, {"code_challenge": create_s256_code_challenge("p" * 50), "code_challenge_method": "plain"},
                  {"code_challenge": "p" * 50}):  # fmt: skip
        r = ada.http.get(f"/authorize?{urlencode({**base, **extra})}")
        assert r.status_code == 302, (extra, r.text[:300])
        assert query_of(r.headers["location"])["error"] == "invalid_request", extra
    app = world.oauth(client, "ggo.read")
    url, _ = app.create_authorization_url(f"{world.url}/authorize", code_verifier="r" * 50)
    back = ada.authorize(url)
    with pytest.raises(OAuthError, match="invalid_grant"):  # a verifier not the challenge's
        app.fetch_token(f"{world.url}/token", authorization_response=back, code_verifier="w" * 50)
    url, _ = app.create_authorization_url(f"{world.url}/authorize", code_verifier="r" * 50)
    code = query_of(ada.authorize(url))["code"]
    r = httpx2.post(f"{world.url}/token", data={"grant_type": "authorization_code", "code": code,
                                               "redirect_uri": client["redirect_uris"][0]},
                   auth=(client["client_id"], client["client_secret"]))  # fmt: skip
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"  # no verifier: a downgrade


def test_a_code_used_twice_revokes_what_it_gave(world):
    ada = world.person()
    client = world.client(ada)
    app = world.oauth(client)
    verifier = "q" * 60
    url, _ = app.create_authorization_url(f"{world.url}/authorize", code_verifier=verifier)
    back = ada.authorize(url)
    token = app.fetch_token(f"{world.url}/token", authorization_response=back, code_verifier=verifier)
    with pytest.raises(OAuthError, match="invalid_grant"):
        app.fetch_token(f"{world.url}/token", authorization_response=back, code_verifier=verifier)
    with pytest.raises(OAuthError, match="invalid_grant"):
        app.refresh_token(f"{world.url}/token", refresh_token=token["refresh_token"])
    inspected = httpx2.post(f"{world.url}/introspect", data={"token": token["access_token"]},
                           auth=(client["client_id"], client["client_secret"])).json()  # fmt: skip
    assert inspected == {"active": False}


def test_redirect_uri_tricks_are_shown_here_never_followed(world):
    ada = world.person()
    client = world.client(ada)
    registered = client["redirect_uris"][0]
    for uri in (registered + "/evil", registered + "?x=1", registered.replace("https", "http"),
                "https://app.example.evil.example/callback", registered.upper(), "https://evil.example/"):  # fmt: skip
        q = {"response_type": "code", "client_id": client["client_id"], "redirect_uri": uri, "scope": "ggo.read",
             "code_challenge": create_s256_code_challenge("z" * 50), "code_challenge_method": "S256"}  # fmt: skip
        r = ada.http.get(f"/authorize?{urlencode(q)}")
        assert r.status_code == 400 and "location" not in r.headers, uri
    q = {"response_type": "code", "client_id": "cli_nobody", "redirect_uri": "https://evil.example/"}
    r = ada.http.get(f"/authorize?{urlencode(q)}")
    assert r.status_code == 400 and "location" not in r.headers


def test_implicit_and_password_grants_do_not_exist(world):
    ada = world.person()
    client = world.client(ada)
    q = {"response_type": "token", "client_id": client["client_id"], "redirect_uri": client["redirect_uris"][0]}
    r = ada.http.get(f"/authorize?{urlencode(q)}")
    assert r.status_code == 302 and query_of(r.headers["location"])["error"] == "unsupported_response_type"
    r = httpx2.post(f"{world.url}/token", data={"grant_type": "password", "username": ada.email, "password": "x"},
                   auth=(client["client_id"], client["client_secret"]))  # fmt: skip
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"


def test_csrf_on_consent_gives_no_code(world):
    ada = world.person()
    client = world.client(ada)
    app = world.oauth(client)
    url, _ = app.create_authorization_url(f"{world.url}/authorize", code_verifier="e" * 50)
    r = ada.http.post(url, data={"decision": "allow"})
    assert r.status_code == 403 and "location" not in r.headers


def test_refresh_tokens_rotate_and_a_replayed_one_revokes_the_family(world):
    ada = world.person()
    client = world.client(ada, public=True, redirect_uri="http://127.0.0.1:7777/cb")
    app, token, _ = world.code_flow(ada, client)
    first = token["refresh_token"]
    second = app.refresh_token(f"{world.url}/token", refresh_token=first)["refresh_token"]
    assert second != first
    with pytest.raises(OAuthError, match="invalid_grant"):  # the stolen first one, replayed
        app.refresh_token(f"{world.url}/token", refresh_token=first)
    with pytest.raises(OAuthError, match="invalid_grant"):  # and the family is gone
        app.refresh_token(f"{world.url}/token", refresh_token=second)


def test_client_credentials_act_for_the_owner_and_only_for_confidential_clients(world):
    ada = world.person()
    client = world.client(ada, credentials=True, scope="ggo.read reports.read")
    r = httpx2.post(f"{world.url}/token", data={"grant_type": "client_credentials", "scope": "ggo.read"},
                   auth=(client["client_id"], client["client_secret"]))  # fmt: skip
    assert r.status_code == 200, r.text
    _, claims = claims_of(world, r.json()["access_token"])
    assert claims["sub"] == client["client_id"] and claims["act_for"] == world.svc.users.by_email(ada.email).id
    assert "refresh_token" not in r.json()
    bad = httpx2.post(f"{world.url}/token", data={"grant_type": "client_credentials"},
                     auth=(client["client_id"], "not the secret"))  # fmt: skip
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    public = world.client(ada, public=True, redirect_uri="http://127.0.0.1:7777/cb")
    r = httpx2.post(f"{world.url}/token", data={"grant_type": "client_credentials", "client_id": public["client_id"]})
    assert r.status_code in (400, 401)


def test_revocation_and_introspection(world):
    ada = world.person()
    client = world.client(ada)
    other = world.client(ada)
    _, token, _ = world.code_flow(ada, client)
    auth = (client["client_id"], client["client_secret"])
    inspected = httpx2.post(f"{world.url}/introspect", data={"token": token["access_token"]}, auth=auth).json()
    assert inspected["active"] is True and inspected["sub"] == world.svc.users.by_email(ada.email).id
    by_other = httpx2.post(f"{world.url}/introspect", data={"token": token["access_token"]},
                          auth=(other["client_id"], other["client_secret"])).json()  # fmt: skip
    assert by_other == {"active": False}
    assert httpx2.post(f"{world.url}/revoke", data={"token": token["access_token"]}, auth=auth).status_code == 200
    assert httpx2.post(f"{world.url}/introspect", data={"token": token["access_token"]}, auth=auth).json() == {
        "active": False
    }
    assert httpx2.post(f"{world.url}/revoke", data={"token": token["refresh_token"]}, auth=auth).status_code == 200
    r = httpx2.post(f"{world.url}/token", data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
                   auth=auth)  # fmt: skip
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert httpx2.post(f"{world.url}/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"}
                      ).status_code == 401  # fmt: skip


def test_metadata_and_discovery(world):
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        meta = httpx2.get(f"{world.url}{path}").json()
        assert meta["issuer"] == world.url and meta["code_challenge_methods_supported"] == ["S256"]
        assert meta["authorization_response_iss_parameter_supported"] is True
        assert meta["response_types_supported"] == ["code"] and "implicit" not in meta["grant_types_supported"]


def test_keys_rotate_without_downtime(world):
    ada = world.person()
    client = world.client(ada)
    _, before, _ = world.code_flow(ada, client)
    old_kid = claims_of(world, before["access_token"])[0]["kid"]
    new_kid = world.svc.keys.rotate()
    published = {k["kid"] for k in httpx2.get(f"{world.url}/jwks.json").json()["keys"]}
    assert published == {old_kid, new_kid}  # published before it signs
    app = world.oauth(client)
    meanwhile = app.refresh_token(f"{world.url}/token", refresh_token=before["refresh_token"])
    assert claims_of(world, meanwhile["access_token"])[0]["kid"] == old_kid
    world.svc.keys.clock = lambda: time.time() + PUBLISH_AHEAD_S + 2
    after = app.refresh_token(f"{world.url}/token", refresh_token=meanwhile["refresh_token"])
    assert claims_of(world, after["access_token"])[0]["kid"] == new_kid
    assert {k["kid"] for k in world.svc.keys.jwks()["keys"]} == {old_kid, new_kid}  # the old tokens still check
    claims_of(world, before["access_token"])
    world.svc.keys.clock = lambda: time.time() + PUBLISH_AHEAD_S + 603
    assert {k["kid"] for k in world.svc.keys.jwks()["keys"]} == {new_kid}


def test_the_operator_scope_is_an_operators_only(world):
    ada = world.person()
    with pytest.raises(Exception, match="only an operator"):
        world.client(ada, scope="operator")
    r = ada.post_form("/clients", {"name": "Mine", "redirect_uris": "https://mine.example/cb", "kind": "confidential",
                                   "scope": ["ggo.read", "operator"]}, csrf_from="/clients")  # fmt: skip
    assert r.status_code == 403
    r = ada.post_form("/clients", {"name": "Mine", "redirect_uris": "https://mine.example/cb", "kind": "public",
                                   "scope": ["ggo.read"]}, csrf_from="/clients")  # fmt: skip
    assert r.status_code == 201 and "public client" in r.text
    assert "Mine" in ada.http.get("/clients").text


def test_the_worked_example_in_the_docs_runs(world):
    """docs/auth.md's code flow, run as written: the person's browser answers the prompt."""
    text = (Path(__file__).parents[2] / "docs" / "auth.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    ada = world.person()
    client = world.client(ada, scope="openid ggo.read offline_access")
    printed: list = []
    names = {"CLIENT_ID": client["client_id"], "CLIENT_SECRET": client["client_secret"], "print": printed.append,
             "input": lambda prompt: ada.authorize(prompt.split()[1].rstrip(","))}  # fmt: skip
    exec(code.replace('ISSUER = "http://127.0.0.1:8704"', f'ISSUER = "{world.url}"'), names)
    assert printed == [world.svc.users.by_email(ada.email).id]
    assert names["token"]["refresh_token"] and names["token"]["access_token"]
