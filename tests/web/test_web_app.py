"""The web app's server as an attacker meets it, without the rest of the platform: answers from an
authorization server it did not ask (mix-up), states it never gave out or gave out once, paths
out of its folders, calls without a session or without the CSRF token, and the headers every
page carries."""

from urllib.parse import parse_qs, urlsplit

import pytest
from auth_world import auth_world
from fastapi.testclient import TestClient

from origin.protocol import note
from origin.web import app as web

AUTH = "https://auth.example"


@pytest.fixture
def config(tmp_path) -> web.Config:
    return web.Config(public_url="https://app.example", auth_issuer=AUTH, client_id="cli_web", client_secret="s" * 40,
                      accounts_url="http://127.0.0.1:9", datahub_url="http://127.0.0.1:9",
                      ledger_url="http://127.0.0.1:9", log_key=str(note.Signer.generate("test/dk").verifier),
                      vendor=str(tmp_path))  # fmt: skip


def test_sign_in_asks_for_pkce_s256_and_takes_back_only_what_it_asked(config):
    app = web.WebApp(config)
    url, state = app.authorization_url(signup=False)
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert url.startswith(f"{AUTH}/authorize?") and query["code_challenge_method"] == "S256"
    assert query["redirect_uri"] == "https://app.example/callback" and "offline_access" in query["scope"]
    with pytest.raises(web._SignedOut, match="mix-up"):  # the answer names another issuer
        app.finish_login({"state": query["state"], "code": "c", "iss": "https://evil.example"})
    with pytest.raises(web._SignedOut, match="unknown or too old"):  # a state is taken once
        app.finish_login({"state": query["state"], "code": "c", "iss": AUTH})
    with pytest.raises(web._SignedOut, match="unknown or too old"):
        app.finish_login({"state": "made-up", "code": "c", "iss": AUTH})
    with pytest.raises(web._SignedOut, match="access_denied"):
        app.finish_login({"error": "access_denied"})
    signup, _ = app.authorization_url(signup=True)
    assert signup.startswith(f"{AUTH}/signup?next=%2Fauthorize%3F")  # a path of the server, no open redirect


def test_no_session_no_csrf_no_way_out_of_its_folders(config):
    client = TestClient(web.create_web_app(config), base_url="https://app.example")
    home = client.get("/")
    assert home.status_code == 200 and "Skip to the content" in home.text
    assert (
        home.headers["x-frame-options"] == "DENY"
        and "frame-ancestors 'none'" in home.headers["content-security-policy"]
    )
    assert "script-src 'self'" in home.headers["content-security-policy"]
    assert client.get("/session").json() == {"signed_in": False}
    for method, path in (("GET", "/api/accounts/v1/account"), ("POST", "/api/accounts/v1/transfers"),
                         ("GET", "/verify/62fe8a00"), ("POST", "/logout")):  # fmt: skip
        r = client.request(method, path, headers={"Cookie": "origin_web=forged"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated", (method, path)
    for path in ("/static/..%2Fapp.py", "/static/../app.py", "/vendor/..%2F..%2Fetc%2Fpasswd", "/static/nothing.js"):
        assert client.get(path).status_code == 404, path
    assert client.get("/static/app.js").headers["content-type"].startswith("text/javascript")
    login = client.get("/login", follow_redirects=False)
    assert login.status_code == 303 and login.headers["location"].startswith(f"{AUTH}/authorize?")
    state = parse_qs(urlsplit(login.headers["location"]).query)["state"][0]
    assert login.cookies["origin_web_login"] == state  # HttpOnly, kept by this browser only
    elsewhere = TestClient(client.app, base_url="https://app.example")  # another browser, the same app
    r = elsewhere.get("/callback", params={"state": state, "code": "c", "iss": AUTH})
    assert r.status_code == 400 and "did not start" in r.json()["error"]["message"]  # no login CSRF
    assert client.get("/eecs?codes=T010000,F01040100,nope").json() == {
        "T010000": "Solar - Unspecified - Unspecified", "F01040100": "Renewable - Heating and cooling - Solar - Unspecified"}  # fmt: skip


def test_a_session_renews_its_token_and_sign_out_revokes_it(tmp_path):
    """Against the real authorization server: the code flow as the app runs it, a renewal with
    the rotated refresh token when the access token is about to expire, and none after sign-out."""
    with auth_world(tmp_path) as world:
        ada = world.person("Ada")
        ada.sign_in()
        client = world.svc.register_client(world.svc.users.by_email(ada.email), "Origin web app",
                                           ["https://app.example/callback"], False, web.SCOPE.split(),
                                           ["authorization_code", "refresh_token"])  # fmt: skip
        config = web.Config(public_url="https://app.example", auth_issuer=world.url, client_id=client["client_id"],
                            client_secret=client["client_secret"], accounts_url="http://127.0.0.1:9",
                            datahub_url="http://127.0.0.1:9", ledger_url="http://127.0.0.1:9",
                            log_key=str(note.Signer.generate("test/dk").verifier), vendor=str(tmp_path))  # fmt: skip
        app = web.WebApp(config)
        forged = {k: v[0] for k, v in parse_qs(urlsplit(ada.authorize(app.authorization_url(False)[0])).query).items()}
        with pytest.raises(web._SignedOut, match="could not be finished"):  # a code it was not given
            app.finish_login({**forged, "code": "forged"})
        back = ada.authorize(app.authorization_url(signup=False)[0])
        session = app.finish_login({k: v[0] for k, v in parse_qs(urlsplit(back).query).items()})
        assert session.name == "Ada" and session.token["refresh_token"]
        first, refresh = session.token["access_token"], session.token["refresh_token"]
        assert app.access_token(session) == first  # still fresh: not renewed
        session.token["expires_at"] = 0
        renewed = app.access_token(session)
        assert renewed != first and session.token["refresh_token"] != refresh  # rotated
        app.sign_out(None, session)
        session.token["expires_at"] = 0
        with pytest.raises(web._SignedOut, match="could not be renewed"):
            app.access_token(session)
