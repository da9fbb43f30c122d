"""The web app's server: a backend for the browser (the pattern the OAuth 2.0 for Browser-Based
Apps draft recommends). It is a confidential client of the authorization server: it signs the
person in with the code flow and PKCE S256 (Authlib's client), checks the `iss` of the answer
(mix-up), keeps their tokens on the server, never in the browser (a sign-in's answer is taken only by the
browser that started it: its `state` is in a cookie too), and passes the browser's API
calls on to the account and DataHub services with the access token (renewed with the rotated
refresh token when it expires). The browser holds an HttpOnly, SameSite=Lax session cookie; every
call that changes something carries the session's CSRF token in a header. It verifies a GGO's
provenance bundle itself, with the ledger's log key it was configured with (`origin.verify`).

The pages are one static document and its script (`static/`); the chart library (uPlot) is
served from the npm registry's package, installed by `npm ci` (never copied here).
"""

import contextlib
import gzip
import hmac
import json
import logging
import os
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx2
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2 import OAuth2Error
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from origin.protocol import eecs, note
from origin.verify.bundle import Unreadable, VerifyError, verify_bundle

log = logging.getLogger("origin.web")
STATIC = Path(__file__).parent / "static"
# npm's packages, installed by `npm ci` in the project's folder (ORIGIN_WEB_VENDOR names another).
VENDOR = os.environ.get("ORIGIN_WEB_VENDOR", str(Path(__file__).resolve().parents[3] / "node_modules"))
SESSION_COOKIE, LOGIN_COOKIE = "origin_web", "origin_web_login"
SESSION_IDLE_S = 12 * 3600
SESSIONS_MAX = 10_000
LOGIN_S = 600  # a sign-in started must come back within this
RENEW_AHEAD_S = 30  # an access token this close to expiry is renewed first
BODY_BYTES_MAX = 1024 * 1024
SCOPE = ("openid profile offline_access account.open meteringpoints.read measurements.read meters.write ggo.read "
         "ggo.transfer ggo.retire agreements.write reports.read")  # fmt: skip
SERVICES = ("accounts", "datahub", "ledger")
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
TYPES = {".csv": "text/csv; charset=utf-8", ".html": "text/html; charset=utf-8"}


@dataclass
class Config:
    public_url: str  # where people reach the web app; its redirect URI is {public_url}/callback
    auth_issuer: str
    client_id: str
    client_secret: str
    accounts_url: str
    datahub_url: str
    ledger_url: str
    log_key: str  # the ledger's note verifier key: what a provenance bundle must be signed by
    vendor: str  # the folder of the npm packages (node_modules)


@dataclass
class _Session:
    token: dict[str, Any]
    name: str
    email: str
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    seen: float = field(default_factory=time.time)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Sessions:
    """Who is signed in, by a random cookie; bounded, idle ones forgotten. In memory: a restart
    signs people out, and nothing else is lost (the data is the services')."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: OrderedDict[str, _Session] = OrderedDict()
        self._logins: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def begin_login(self, state: str, verifier: str) -> None:
        with self._lock:
            self._logins[state] = (verifier, time.time())
            while len(self._logins) > SESSIONS_MAX:
                self._logins.popitem(last=False)

    def end_login(self, state: str) -> str | None:
        with self._lock:
            found = self._logins.pop(state, None)
        return found[0] if found and time.time() - found[1] < LOGIN_S else None

    def add(self, session: _Session) -> str:
        sid = secrets.token_urlsafe(32)
        with self._lock:
            self._by_id[sid] = session
            while len(self._by_id) > SESSIONS_MAX:
                self._by_id.popitem(last=False)
        return sid

    def get(self, sid: str | None) -> _Session | None:
        with self._lock:
            session = self._by_id.get(sid or "")
            if session is None or time.time() - session.seen > SESSION_IDLE_S:
                return None
            session.seen = time.time()
            self._by_id.move_to_end(sid or "")
            return session

    def drop(self, sid: str | None) -> _Session | None:
        with self._lock:
            return self._by_id.pop(sid or "", None)


class _SignedOut(Exception):
    pass


class WebApp:
    def __init__(self, config: Config):
        self.config = config
        self.sessions = _Sessions()
        self.http = httpx2.Client(timeout=35.0, follow_redirects=False)
        self.secure = config.public_url.startswith("https://")
        self.log_key = note.Verifier.parse(config.log_key)

    def oauth(self, token: dict[str, Any] | None = None) -> OAuth2Client:
        c = self.config
        return OAuth2Client(c.client_id, c.client_secret, scope=SCOPE, redirect_uri=f"{c.public_url}/callback",
                            code_challenge_method="S256", token=token, timeout=35.0,
                            token_endpoint_auth_method="client_secret_basic")  # noqa: S106  # fmt: skip

    def authorization_url(self, signup: bool) -> tuple[str, str]:
        """Where to send the browser to sign in, and the request's `state` (which the browser
        keeps in a cookie, so that an answer is taken only by the browser that asked)."""
        verifier = secrets.token_urlsafe(48)
        url, state = self.oauth().create_authorization_url(f"{self.config.auth_issuer}/authorize",
                                                           code_verifier=verifier)  # fmt: skip
        self.sessions.begin_login(state, verifier)
        if signup:  # the server's sign-up page, then on to the same authorization request
            url = f"{self.config.auth_issuer}/signup?" + urlencode({"next": url.removeprefix(self.config.auth_issuer)})
        return str(url), str(state)

    def finish_login(self, query: dict[str, str]) -> _Session:
        """The authorization response: its state and issuer checked, the code exchanged, the
        person's name read, their account opened if it is not yet."""
        if "error" in query:
            raise _SignedOut(f"the authorization server said {query['error']}: {query.get('error_description', '')}")
        verifier = self.sessions.end_login(query.get("state", ""))
        if verifier is None:
            raise _SignedOut("that sign-in is unknown or too old: sign in again")
        if query.get("iss") != self.config.auth_issuer:
            raise _SignedOut("the answer came from another authorization server than the one asked (mix-up)")
        client = self.oauth()
        try:
            token = client.fetch_token(f"{self.config.auth_issuer}/token", code=query.get("code", ""),
                                       code_verifier=verifier)  # fmt: skip
            me = client.get(f"{self.config.auth_issuer}/userinfo").json()
        except (OAuthError, OAuth2Error, httpx2.HTTPError, ValueError) as exc:
            raise _SignedOut(f"the sign-in could not be finished: {exc}") from None
        session = _Session(dict(token), str(me.get("name", "")), str(me.get("email", "")))
        status, _, _ = self.call(session, "GET", "accounts", "v1/account", "", None)
        if status == 404:
            self.call(session, "POST", "accounts", "v1/account", "", json.dumps({"name": session.name}).encode())
        return session

    def sign_out(self, sid: str | None, session: _Session) -> None:
        """Forget the session, and revoke its refresh token (signed out here whatever the
        authorization server answers: the token expires on its own)."""
        self.sessions.drop(sid)
        if session.token.get("refresh_token"):
            with contextlib.suppress(httpx2.HTTPError, OAuthError, OAuth2Error):
                self.oauth(session.token).revoke_token(f"{self.config.auth_issuer}/revoke",
                                                       session.token["refresh_token"], token_type_hint="refresh_token")  # noqa: S106  # fmt: skip

    def access_token(self, session: _Session) -> str:
        """The session's access token, renewed first when it is about to expire."""
        with session.lock:
            if session.token.get("expires_at", 0) - RENEW_AHEAD_S < time.time():
                if not session.token.get("refresh_token"):
                    raise _SignedOut("the session has expired")
                try:
                    renewed = self.oauth(session.token).refresh_token(f"{self.config.auth_issuer}/token")
                except (OAuthError, OAuth2Error, httpx2.HTTPError) as exc:
                    raise _SignedOut(f"the session could not be renewed: {exc}") from None
                session.token = dict(renewed)
            return str(session.token["access_token"])

    def call(self, session: _Session, method: str, service: str, path: str, query: str,
             body: bytes | None) -> tuple[int, bytes, str]:  # fmt: skip
        """One API call for the person: status, body, content type."""
        base = {"accounts": self.config.accounts_url, "datahub": self.config.datahub_url,
                "ledger": self.config.ledger_url}[service]  # fmt: skip
        headers = {"Content-Type": "application/json"}
        if service != "ledger":  # the ledger's read API is public
            headers["Authorization"] = f"Bearer {self.access_token(session)}"
        url = f"{base}/{path}" + (f"?{query}" if query else "")
        try:
            r = self.http.request(method, url, content=body, headers=headers)
        except httpx2.HTTPError as exc:
            message = f"the {service} service does not answer: {exc}"
            return 503, json.dumps({"error": {"code": "unavailable", "message": message}}).encode(), "application/json"
        return r.status_code, r.content, r.headers.get("content-type", "application/json")

    def verify(self, session: _Session, address: str) -> dict[str, Any]:
        """A GGO's provenance bundle from the ledger, checked here against the configured log
        key: what it proves, hop by hop."""
        status, body, _ = self.call(session, "GET", "ledger", f"v1/ggos/{address}/provenance", "", None)
        if status != 200:
            return {"ok": False, "error": _message(body) or f"the ledger answered HTTP {status}"}
        try:
            summary = verify_bundle(json.loads(body), self.log_key)
        except (VerifyError, Unreadable, ValueError) as exc:
            return {"ok": False, "error": f"the bundle does not verify: {exc}"}
        return {"ok": True, "ggo": summary.ggo, "ledger": summary.ledger, "issuer": summary.issuer,
                "measurement": summary.measurement, "tech_type": summary.tech_type, "fuel_type": summary.fuel_type,
                "hops": [h.__dict__ for h in summary.hops], "retired_to": summary.retired_to,
                "consumption": summary.consumption, "spent": summary.spent,
                "checkpoint_size": summary.checkpoint_size, "lines": summary.lines()}  # fmt: skip


def _message(body: bytes) -> str:
    try:
        return str(json.loads(body)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return ""


def create_web_app(config: Config) -> FastAPI:
    if not (Path(config.vendor) / "uplot" / "dist").is_dir():
        log.warning("the chart library is not in %s: run `npm ci` in the project's folder", config.vendor)
    web = WebApp(config)
    app = FastAPI(title="Origin web app", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    def session_of(request: Request) -> tuple[str | None, _Session | None]:
        sid = request.cookies.get(SESSION_COOKIE)
        return sid, web.sessions.get(sid)

    _files(app, config)

    @app.get("/login", include_in_schema=False)
    def login(signup: bool = False) -> Response:
        url, state = web.authorization_url(signup)
        response = RedirectResponse(url, 303)
        response.set_cookie(LOGIN_COOKIE, state, max_age=LOGIN_S, httponly=True, samesite="lax", secure=web.secure,
                            path="/")  # fmt: skip
        return response

    @app.get("/callback", include_in_schema=False)
    def callback(request: Request) -> Response:
        try:
            if not hmac.compare_digest(request.cookies.get(LOGIN_COOKIE, ""), request.query_params.get("state", "")):
                raise _SignedOut("this browser did not start that sign-in: sign in again")  # login CSRF
            session = web.finish_login(dict(request.query_params))
        except _SignedOut as exc:
            return JSONResponse({"error": {"code": "sign_in_failed", "message": str(exc)}}, 400)
        response = RedirectResponse(f"{config.public_url}/", 303)
        response.delete_cookie(LOGIN_COOKIE, path="/")
        response.set_cookie(SESSION_COOKIE, web.sessions.add(session), httponly=True, samesite="lax",
                            secure=web.secure, path="/")  # fmt: skip
        return response

    @app.get("/session", include_in_schema=False)
    def whoami(request: Request) -> Response:
        _, session = session_of(request)
        if session is None:
            return JSONResponse({"signed_in": False})
        return JSONResponse({"signed_in": True, "name": session.name, "email": session.email, "csrf": session.csrf,
                             "auth_url": config.auth_issuer})  # fmt: skip

    def checked(request: Request) -> tuple[str | None, _Session]:
        sid, session = session_of(request)
        if session is None:
            raise _SignedOut("not signed in")
        if request.method != "GET" and not hmac.compare_digest(request.headers.get("x-csrf-token", ""), session.csrf):
            raise _SignedOut("the request lacks the session's CSRF token")
        return sid, session

    @app.exception_handler(_SignedOut)
    async def signed_out(request: Request, exc: _SignedOut) -> Response:
        return JSONResponse({"error": {"code": "unauthenticated", "message": str(exc)}}, 401)

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request) -> Response:
        sid, session = checked(request)
        web.sign_out(sid, session)
        response = JSONResponse({"signed_in": False})
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.api_route("/api/{service}/{path:path}", methods=["GET", "POST", "PUT", "DELETE"], include_in_schema=False)
    async def api(request: Request, service: str, path: str) -> Response:
        _, session = checked(request)
        if service not in SERVICES or ".." in path:
            return JSONResponse({"error": {"code": "not_found", "message": f"no service {service}"}}, 404)
        body = await request.body()
        if len(body) > BODY_BYTES_MAX:
            return JSONResponse({"error": {"code": "too_large", "message": "the body is too large"}}, 413)
        status, content, kind = await run_in_threadpool(web.call, session, request.method, service, path,
                                                 request.url.query, body or None)  # fmt: skip
        if status == 401:  # the service refuses this person's token: the session itself is fine
            status = 403
        return _answer(request, status, content, TYPES.get(Path(path).suffix, kind))

    @app.get("/verify/{address}", include_in_schema=False)
    async def verify(request: Request, address: str) -> Response:
        _, session = checked(request)
        return JSONResponse(await run_in_threadpool(web.verify, session, address))

    return app


def _files(app: FastAPI, config: Config) -> None:
    """The page, its script and style, the chart library, the names of EECS codes."""

    @app.get("/", include_in_schema=False)
    def home() -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        return _file(STATIC, name)

    @app.get("/vendor/{name}", include_in_schema=False)
    def vendor(name: str) -> Response:
        return _file(Path(config.vendor) / "uplot" / "dist", name)

    @app.get("/eecs", include_in_schema=False)
    def eecs_labels(codes: str = "") -> Response:
        """The names of EECS technology and fuel codes (at most 50)."""
        found = {}
        for code in codes.split(",")[:50]:
            name = eecs.tech_label(code) if code.startswith("T") else eecs.fuel_label(code)
            if name:
                found[code] = name
        return JSONResponse(found, headers={"Cache-Control": "max-age=86400"})


def _answer(request: Request, status: int, content: bytes, kind: str) -> Response:
    """The service's answer, compressed when the browser takes it and it is worth it (a year
    of hourly data is a few MB of JSON)."""
    headers = {}
    if len(content) > 1400 and "gzip" in request.headers.get("accept-encoding", ""):
        content = gzip.compress(content, 6)
        headers["Content-Encoding"] = "gzip"
    if kind.startswith("text/csv"):
        headers["Content-Disposition"] = 'attachment; filename="' + Path(request.url.path).name + '"'
    return Response(content, status, headers=headers, media_type=kind)


def _file(folder: Path, name: str) -> Response:
    path = (folder / name).resolve()
    if path.parent != folder.resolve() or not path.is_file():
        return JSONResponse({"error": {"code": "not_found", "message": name}}, 404)
    return FileResponse(path, headers={"Cache-Control": "max-age=3600"})
