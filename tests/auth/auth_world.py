"""The authorization server on a real port (its issuer URL is the one it is reached at), people
using it through a cookie-keeping HTTP client as a browser would, and third parties' apps using
Authlib's own OAuth2 client over httpx2."""

import contextlib
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2
from authlib.integrations.httpx_client import OAuth2Client
from joserfc import jwt

from harness.soak import free_port, serving
from origin.auth import service

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Person:
    """Someone with a browser: it keeps cookies and follows no redirect by itself."""

    world: "AuthWorld"
    http: httpx2.Client
    email: str

    def csrf(self, path: str) -> str:
        page = self.http.get(path)
        found = CSRF.search(page.text)
        assert found, (path, page.status_code, page.text[:300])
        return found.group(1)

    def post_form(self, path: str, data: dict, csrf_from: str | None = None) -> httpx2.Response:
        return self.http.post(path, data={"csrf": self.csrf(csrf_from or path), **data})

    def sign_in(self, password: str = PASSWORD) -> httpx2.Response:
        return self.post_form("/signin", {"email": self.email, "password": password})

    def authorize(self, url: str, decision: str = "allow") -> str:
        """Open the app's authorization URL, answer the consent page if it shows; where the
        server sends the browser back."""
        page = self.http.get(url)
        if page.status_code == 200 and "Allow" in page.text:
            found = CSRF.search(page.text)
            assert found
            page = self.http.post(url, data={"csrf": found.group(1), "decision": decision})
        assert page.status_code in (302, 303), (page.status_code, page.text[:500])
        return page.headers["location"]


class AuthWorld:
    def __init__(self, tmp: Path, url: str, svc: service.Service):
        self.tmp, self.url, self.svc = tmp, url, svc
        self.count = 0

    def person(self, name: str = "Ada", sign_up: bool = True) -> Person:
        self.count += 1
        p = Person(self, httpx2.Client(base_url=self.url, follow_redirects=False), f"person{self.count}@example.dk")
        if sign_up:
            r = p.post_form("/signup", {"email": p.email, "name": name, "password": PASSWORD})
            assert r.status_code == 303, r.text[:300]
        return p

    def client(self, owner: Person, *, public: bool = False, scope: str = "openid profile offline_access ggo.read",
               redirect_uri: str = "https://app.example/callback", credentials: bool = False) -> dict:  # fmt: skip
        user = self.svc.users.by_email(owner.email)
        assert user is not None
        grants = ["authorization_code", "refresh_token"] + (["client_credentials"] if credentials else [])
        return self.svc.register_client(user, "Green App", [redirect_uri], public, scope.split(), grants)

    def oauth(self, client: dict, scope: str = "openid profile offline_access ggo.read") -> OAuth2Client:
        """The third party's app: Authlib's client, PKCE S256."""
        return OAuth2Client(client["client_id"], client["client_secret"], scope=scope,
                            redirect_uri=client["redirect_uris"][0], code_challenge_method="S256",
                            token_endpoint_auth_method="none" if client["public"] else "client_secret_basic")  # fmt: skip

    def code_flow(self, person: Person, client: dict, scope: str = "openid profile offline_access ggo.read",
                  **extra: str) -> tuple[OAuth2Client, dict, dict]:  # fmt: skip
        """The whole code flow as an app runs it: the token, and the authorization response's query."""
        app = self.oauth(client, scope)
        verifier = "v" * 20 + str(time.time_ns()) + "x" * 30
        url, state = app.create_authorization_url(f"{self.url}/authorize", code_verifier=verifier, **extra)
        back = person.authorize(url)
        query = {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}
        assert query.get("state") == state and query.get("iss") == self.url, back
        token = app.fetch_token(f"{self.url}/token", authorization_response=back, code_verifier=verifier)
        return app, dict(token), query


@contextlib.contextmanager
def auth_world(tmp: Path, database: str | None = None) -> Iterator[AuthWorld]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    service.init(tmp / "auth", issuer=url, database_url=database)
    svc = service.Service(tmp / "auth")
    try:
        with serving(svc.app(), port):
            yield AuthWorld(tmp, url, svc)
    finally:
        svc.stop()


def mint(svc: service.Service, scope: str, *, aud: str, exp_in: int = 600, iss: str | None = None,
         **claims: str) -> str:  # fmt: skip
    """An access token as the authorization server signs it (its key, its claims), for tests
    that need one of a given shape: expired, for another audience, from another issuer."""
    now = int(time.time())
    body = {"iss": iss or svc.config.issuer, "aud": [aud], "sub": "usr_test", "client_id": "cli_app", "iat": now - 5,
            "exp": now + exp_in, "jti": uuid.uuid4().hex, "scope": scope, "role": "user", **claims}  # fmt: skip
    return jwt.encode({"alg": "ES256", "typ": "at+jwt"}, body, svc.keys.signing())
