"""The authorization server's HTTP face: the pages people use (sign-up, sign-in, consent,
connected apps, their OAuth clients, passwords), and the OAuth endpoints apps use.

Every page answers with headers that forbid framing (clickjacking) and caching; every form
carries a CSRF token (the session's, or before sign-in a SameSite=Strict cookie's) checked in
constant time; the session cookie is HttpOnly, SameSite=Lax, and Secure when the issuer is https.
After sign-in the user goes back only to a path of this server, never to a URL a link names
(no open redirect); an authorization error goes back to the client only when its redirect URI
was checked, else it is shown here.
"""

import hmac
import secrets
from html import escape
from typing import Any
from urllib.parse import urlencode

from authlib.oauth2 import OAuth2Error
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from origin.auth import pages
from origin.auth.oauth import SCOPES, Answer, Incoming, Subject
from origin.auth.service import Service
from origin.auth.users import OPERATOR, SESSION_S, Session, UserError
from origin.server import BoundedBody

SESSION_COOKIE, CSRF_COOKIE = "origin_session", "origin_csrf"
FORM_BYTES_MAX = 64 * 1024
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path of this server only."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or len(value) > 4000:
        return "/"
    return value


class _SignIn(Exception):
    """A page for signed-in people only: off to the sign-in page, and back here after."""

    def __init__(self, path: str):
        self.path = path


class _Web:
    """What the pages share: the session, CSRF tokens, forms, answers."""

    def __init__(self, svc: Service):
        self.svc = svc
        self.secure = svc.config.issuer.startswith("https://")

    def session_of(self, request: Request) -> Session | None:
        return self.svc.users.session(request.cookies.get(SESSION_COOKIE))

    def need_session(self, request: Request) -> Session:
        session = self.session_of(request)
        if session is None:
            raise _SignIn(request.url.path)
        return session

    @staticmethod
    def csrf_of(request: Request, session: Session | None) -> tuple[str, bool]:
        """The CSRF token forms carry, and whether it is a new pre-session cookie's."""
        if session is not None:
            return session.csrf, False
        found = request.cookies.get(CSRF_COOKIE)
        return (found, False) if found and len(found) < 100 else (secrets.token_urlsafe(32), True)

    def html(self, title: str, body: str, session: Session | None, status: int = 200, error: str | None = None,
             csrf: tuple[str, bool] | None = None) -> HTMLResponse:  # fmt: skip
        response = HTMLResponse(pages.page(title, body, signed_in=session is not None, error=error), status)
        if csrf is not None and csrf[1]:
            response.set_cookie(CSRF_COOKIE, csrf[0], httponly=True, samesite="strict", secure=self.secure)
        return response

    @staticmethod
    async def form_of(request: Request) -> dict[str, list[str]]:
        if int(request.headers.get("content-length") or 0) > FORM_BYTES_MAX:
            raise UserError("the form is too large", 413, "too_large")
        form = await request.form()
        out: dict[str, list[str]] = {}
        for k, v in form.multi_items():
            if isinstance(v, str):
                out.setdefault(k, []).append(v)
        return out

    @staticmethod
    def checked(request: Request, form: dict[str, list[str]], session: Session | None) -> None:
        expected = session.csrf if session is not None else request.cookies.get(CSRF_COOKIE, "")
        given = one(form, "csrf")
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            raise UserError("this form expired or came from another site: reload the page and try again", 403,
                            "csrf")  # fmt: skip

    def signed_in_redirect(self, to: str, cookie: str) -> RedirectResponse:
        response = RedirectResponse(to, 303)
        response.set_cookie(SESSION_COOKIE, cookie, httponly=True, samesite="lax", secure=self.secure,
                            max_age=SESSION_S)  # fmt: skip
        response.delete_cookie(CSRF_COOKIE)
        return response

    def incoming(self, request: Request, form: dict[str, list[str]] | None = None) -> Incoming:
        url = self.svc.config.issuer + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        fields = [(k, v) for k, vs in (form or {}).items() for v in vs]
        return Incoming(request.method, url, request.headers, list(request.query_params.multi_items()), fields)


def one(form: dict[str, list[str]], name: str) -> str:
    return (form.get(name) or [""])[0]


def answer(a: Answer) -> Response:
    headers = dict(a.headers)
    if a.status in (301, 302, 303) and "Location" in headers:
        return RedirectResponse(headers["Location"], 302)
    return JSONResponse(a.body, a.status, headers=headers)


def make_app(svc: Service) -> FastAPI:
    app = FastAPI(title="Origin authorization server", version="1.0", docs_url=None, redoc_url=None,
                  description="OAuth 2.0 and OpenID Connect for Origin's APIs. See docs/auth.md.")  # fmt: skip
    app.add_middleware(BoundedBody, bytes_max=FORM_BYTES_MAX)
    web = _Web(svc)

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    @app.exception_handler(UserError)
    async def refused(request: Request, exc: UserError) -> Response:
        return web.html("That did not work", '<p><a href="/">Back</a></p>', web.session_of(request), exc.status,
                        str(exc))  # fmt: skip

    @app.exception_handler(_SignIn)
    async def to_sign_in(request: Request, exc: _SignIn) -> Response:
        return RedirectResponse("/signin?" + urlencode({"next": exc.path}), 303)

    _people_routes(app, web)
    _password_routes(app, web)
    _client_routes(app, web)
    _oauth_routes(app, web)
    return app


def _people_routes(app: FastAPI, web: _Web) -> None:
    svc = web.svc

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request) -> Response:
        session = web.session_of(request)
        if session is None:
            return RedirectResponse("/signin", 303)
        csrf = session.csrf
        role = " You are the issuing body's operator." if session.user.role == OPERATOR else ""
        body = (f"<p>Signed in as <strong>{escape(session.user.name)}</strong> ({escape(session.user.email)}).{role}"
                f'</p><form method="post" action="/signout">{pages.hidden("csrf", csrf)}'
                f'<button type="submit" class="secondary">Sign out</button></form>')  # fmt: skip
        return web.html("Your Origin sign-in", body, session)

    @app.get("/signin", response_class=HTMLResponse, include_in_schema=False)
    def sign_in_page(request: Request, next: str = "/") -> Response:
        csrf = web.csrf_of(request, None)
        return web.html("Sign in", pages.sign_in(csrf[0], safe_next(next)), None, csrf=csrf)

    @app.post("/signin", include_in_schema=False)
    async def sign_in(request: Request) -> Response:
        form = await web.form_of(request)
        web.checked(request, form, None)
        next_url = safe_next(one(form, "next"))
        address = request.client.host if request.client else "unknown"
        try:
            _, cookie = await run_in_threadpool(svc.users.sign_in, one(form, "email"), one(form, "password"), address)
        except UserError as exc:
            csrf = web.csrf_of(request, None)
            return web.html("Sign in", pages.sign_in(csrf[0], next_url, one(form, "email")), None, exc.status,
                        str(exc), csrf)  # fmt: skip
        return web.signed_in_redirect(next_url, cookie)

    @app.get("/signup", response_class=HTMLResponse, include_in_schema=False)
    def sign_up_page(request: Request, next: str = "/") -> Response:
        csrf = web.csrf_of(request, None)
        return web.html("Make an account", pages.sign_up(csrf[0], safe_next(next)), None, csrf=csrf)

    @app.post("/signup", include_in_schema=False)
    async def sign_up(request: Request) -> Response:
        form = await web.form_of(request)
        web.checked(request, form, None)
        next_url = safe_next(one(form, "next"))
        try:
            user = await run_in_threadpool(svc.users.sign_up, one(form, "email"), one(form, "name"),
                                           one(form, "password"))  # fmt: skip
        except UserError as exc:
            csrf = web.csrf_of(request, None)
            body = pages.sign_up(csrf[0], next_url, one(form, "email"), one(form, "name"))
            return web.html("Make an account", body, None, exc.status, str(exc), csrf)
        return web.signed_in_redirect(next_url, svc.users.open_session(user.id, int(svc.clock())))

    @app.post("/signout", include_in_schema=False)
    async def sign_out(request: Request) -> Response:
        form = await web.form_of(request)
        session = web.session_of(request)
        if session is not None:
            web.checked(request, form, session)
            svc.users.sign_out(request.cookies[SESSION_COOKIE])
        response = RedirectResponse("/signin", 303)
        response.delete_cookie(SESSION_COOKIE)
        return response


def _password_routes(app: FastAPI, web: _Web) -> None:
    svc = web.svc

    @app.get("/password", response_class=HTMLResponse, include_in_schema=False)
    def password_page(request: Request) -> Response:
        session = web.need_session(request)
        body = (f'<form method="post" action="/password">{pages.hidden("csrf", session.csrf)}'
                f"{pages.field('old', 'Current password', 'password', '', 'current-password')}"
                f"{pages.field('new', 'New password (10 characters or more)', 'password', '', 'new-password')}"
                f'<button type="submit">Change the password</button></form>')  # fmt: skip
        return web.html("Change your password", body, session)

    @app.post("/password", include_in_schema=False)
    async def password(request: Request) -> Response:
        session = web.need_session(request)
        form = await web.form_of(request)
        web.checked(request, form, session)
        await run_in_threadpool(svc.users.change_password, session.user.id, one(form, "old"), one(form, "new"))
        return web.signed_in_redirect("/", svc.users.open_session(session.user.id, int(svc.clock())))

    @app.get("/reset", response_class=HTMLResponse, include_in_schema=False)
    def reset_page(request: Request) -> Response:
        csrf = web.csrf_of(request, None)
        body = (f'<form method="post" action="/reset">{pages.hidden("csrf", csrf[0])}'
                f"{pages.field('email', 'E-mail address', 'email', '', 'username')}"
                f'<button type="submit">Mail me a reset link</button></form>')  # fmt: skip
        return web.html("Reset your password", body, None, csrf=csrf)

    @app.post("/reset", include_in_schema=False)
    async def reset(request: Request) -> Response:
        form = await web.form_of(request)
        web.checked(request, form, None)
        svc.users.request_reset(one(form, "email"), lambda token: f"{svc.config.issuer}/reset/{token}")
        body = '<p class="notice">If that address has an account, a mail with a reset link is on its way.</p>'
        return web.html("Reset your password", body, None)

    @app.get("/reset/{token}", response_class=HTMLResponse, include_in_schema=False)
    def reset_token_page(request: Request, token: str) -> Response:
        csrf = web.csrf_of(request, None)
        body = (f'<form method="post" action="/reset/{escape(token)}">{pages.hidden("csrf", csrf[0])}'
                f"{pages.field('new', 'New password (10 characters or more)', 'password', '', 'new-password')}"
                f'<button type="submit">Set the password</button></form>')  # fmt: skip
        return web.html("Choose a new password", body, None, csrf=csrf)

    @app.post("/reset/{token}", include_in_schema=False)
    async def reset_token(request: Request, token: str) -> Response:
        form = await web.form_of(request)
        web.checked(request, form, None)
        await run_in_threadpool(svc.users.reset, token, one(form, "new"))
        return RedirectResponse("/signin", 303)


def _client_routes(app: FastAPI, web: _Web) -> None:
    svc = web.svc

    @app.get("/apps", response_class=HTMLResponse, include_in_schema=False)
    def apps_page(request: Request) -> Response:
        session = web.need_session(request)
        rows = "".join(
            f"<li><strong>{escape(a['name'])}</strong>: "
            + ", ".join(escape(SCOPES.get(s, (s, None))[0]) for s in a["scope"].split())
            + f'<form method="post" action="/apps/{escape(a["client_id"])}/revoke">'
            f'{pages.hidden("csrf", session.csrf)}<button type="submit" class="secondary">Revoke</button></form></li>'
            for a in svc.connected_apps(session.user.id)
        )
        body = f"<ul>{rows}</ul>" if rows else "<p>No app has access to your data.</p>"
        return web.html("Connected apps", body, session)

    @app.post("/apps/{client_id}/revoke", include_in_schema=False)
    async def revoke_app(request: Request, client_id: str) -> Response:
        session = web.need_session(request)
        web.checked(request, await web.form_of(request), session)
        svc.disconnect(session.user.id, client_id)
        return RedirectResponse("/apps", 303)

    def clients_body(session: Session, made: dict[str, Any] | None = None) -> str:
        shown = ""
        if made is not None:
            secret = (f"<p>Its secret, shown this once: <code>{escape(made['client_secret'])}</code></p>"
                      if made["client_secret"] else "<p>A public client: it has no secret, and uses PKCE.</p>")  # fmt: skip
            shown = f'<div class="notice" role="status"><p>Client id: <code>{escape(made["client_id"])}</code></p>{secret}</div>'
        listed = "".join(
            f"<li><strong>{escape(c['name'])}</strong> <code>{escape(c['client_id'])}</code> "
            f"({'public' if c['public'] else 'confidential'}; {escape(c['scope'])})"
            f'<form method="post" action="/clients/{escape(c["client_id"])}/delete">'
            f'{pages.hidden("csrf", session.csrf)}<button type="submit" class="secondary">Delete</button></form></li>'
            for c in svc.clients_of(session.user.id)
        )
        boxes = "".join(
            f'<label><input type="checkbox" name="scope" value="{s}"> {escape(words)} <code>{s}</code></label>'
            for s, (words, _) in SCOPES.items()
            if s != "operator" or session.user.role == OPERATOR
        )
        return (
            f"{shown}<ul>{listed}</ul><h2>Register an app</h2>"
            f'<form method="post" action="/clients">{pages.hidden("csrf", session.csrf)}'
            f"{pages.field('name', 'Its name, as people will see it')}"
            f'<label for="redirect_uris">Redirect URIs, one a line (https, or http://127.0.0.1 for a native app)'
            f'</label><textarea id="redirect_uris" name="redirect_uris" rows="3"></textarea>'
            f'<label for="kind">Kind</label><select id="kind" name="kind"><option value="confidential">'
            f'Confidential (a server that keeps a secret)</option><option value="public">Public (a browser or '
            f"native app)</option></select><fieldset><legend>Scopes it may ask for</legend>{boxes}</fieldset>"
            f'<label><input type="checkbox" name="client_credentials" value="1"> It also acts for itself '
            f"(client credentials, confidential only)</label>"
            f'<button type="submit">Register</button></form>'
        )

    @app.get("/clients", response_class=HTMLResponse, include_in_schema=False)
    def clients_page(request: Request) -> Response:
        session = web.need_session(request)
        return web.html("Your OAuth clients", clients_body(session), session)

    @app.post("/clients", include_in_schema=False)
    async def register(request: Request) -> Response:
        session = web.need_session(request)
        form = await web.form_of(request)
        web.checked(request, form, session)
        public = one(form, "kind") == "public"
        grants = ["authorization_code", "refresh_token"] + (["client_credentials"] if one(form, "client_credentials")
                                                            else [])  # fmt: skip
        try:
            made = svc.register_client(session.user, one(form, "name"), one(form, "redirect_uris").splitlines(),
                                       public, form.get("scope", []), grants)  # fmt: skip
        except UserError as exc:
            return web.html("Your OAuth clients", clients_body(session), session, exc.status, str(exc))
        return web.html("Your OAuth clients", clients_body(session, made), session, 201)

    @app.post("/clients/{client_id}/delete", include_in_schema=False)
    async def delete_client(request: Request, client_id: str) -> Response:
        session = web.need_session(request)
        web.checked(request, await web.form_of(request), session)
        svc.delete_client(session.user.id, client_id)
        return RedirectResponse("/clients", 303)


def _oauth_routes(app: FastAPI, web: _Web) -> None:
    svc = web.svc

    def authorization_error(request: Request, session: Session | None, error: OAuth2Error) -> Response:
        """Back to the client if its redirect URI was checked (with state and iss); else here."""
        if error.redirect_uri:
            return answer(svc.server.handle_error_response(None, error))
        return web.html("This app's request is not valid", "<p>Tell the app's maker what it says.</p>", session,
                    400, f"{error.error}: {error.description or ''}")  # fmt: skip

    @app.get("/authorize", include_in_schema=False)
    def authorize(request: Request) -> Response:
        session = web.session_of(request)
        if session is None:
            return RedirectResponse("/signin?" + urlencode({"next": f"/authorize?{request.url.query}"}), 303)
        subject = Subject(session.user, session.auth_time)
        try:
            grant = svc.server.get_consent_grant(web.incoming(request), end_user=subject)
        except OAuth2Error as error:
            return authorization_error(request, session, error)
        scope = grant.request.scope or ""
        if "operator" in scope.split() and session.user.role != OPERATOR:
            return answer(svc.server.create_authorization_response(grant.request, None, grant))
        prompt = grant.request.payload.data.get("prompt")
        if prompt != "consent" and svc.consented(session.user.id, grant.client.id, scope):
            return answer(svc.server.create_authorization_response(grant.request, subject, grant))
        body = pages.consent(session.csrf, grant.client.name, grant.redirect_uri,
                             [s for s in scope.split() if s in SCOPES], f"/authorize?{request.url.query}")  # fmt: skip
        return web.html(f"Allow {grant.client.name}?", body, session)

    @app.post("/authorize", include_in_schema=False)
    async def decide(request: Request) -> Response:
        session = web.session_of(request)
        if session is None:
            return RedirectResponse("/signin?" + urlencode({"next": f"/authorize?{request.url.query}"}), 303)
        form = await web.form_of(request)
        web.checked(request, form, session)
        subject = Subject(session.user, session.auth_time)
        query_only = web.incoming(request)
        try:
            grant = svc.server.get_consent_grant(query_only, end_user=subject)
        except OAuth2Error as error:
            return authorization_error(request, session, error)
        allowed = one(form, "decision") == "allow"
        scope = grant.request.scope or ""
        if allowed and ("operator" not in scope.split() or session.user.role == OPERATOR):
            svc.consent(session.user.id, grant.client.id, scope)
            return answer(svc.server.create_authorization_response(grant.request, subject, grant))
        return answer(svc.server.create_authorization_response(grant.request, None, grant))

    @app.post("/token", summary="The token endpoint (RFC 6749 3.2)")
    async def token(request: Request) -> Response:
        form = await web.form_of(request)
        return answer(await run_in_threadpool(svc.server.create_token_response, web.incoming(request, form)))

    @app.post("/revoke", summary="Token revocation (RFC 7009)")
    async def revoke(request: Request) -> Response:
        form = await web.form_of(request)
        return answer(svc.server.create_endpoint_response("revocation", web.incoming(request, form)))

    @app.post("/introspect", summary="Token introspection (RFC 7662)")
    async def introspect(request: Request) -> Response:
        form = await web.form_of(request)
        return answer(svc.server.create_endpoint_response("introspection", web.incoming(request, form)))

    @app.api_route("/userinfo", methods=["GET", "POST"], summary="OpenID Connect userinfo")
    def userinfo(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        bearer = header[7:] if header[:7].lower() == "bearer " else ""
        found = svc.server.token(bearer) if bearer.count(".") == 2 else None
        if found is None or found.kind != "access_token" or found.is_expired() or found.is_revoked() \
                or "openid" not in found.scope.split() or found.user is None:  # fmt: skip
            return JSONResponse(
                {"error": "invalid_token"}, 401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            )
        user = svc.users.get(found.user)
        if user is None:
            return JSONResponse(
                {"error": "invalid_token"}, 401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            )
        return JSONResponse(dict(svc.server.user_info(user, found.scope)))

    @app.get("/jwks.json", summary="The keys that sign tokens (RFC 7517)")
    def jwks() -> Response:
        return JSONResponse(svc.keys.jwks(), headers={"Cache-Control": "public, max-age=300"})

    @app.get("/.well-known/oauth-authorization-server", summary="Server metadata (RFC 8414)")
    def metadata() -> Response:
        return JSONResponse(svc.server.metadata(), headers={"Cache-Control": "public, max-age=300"})

    @app.get("/.well-known/openid-configuration", summary="OpenID Connect discovery")
    def discovery() -> Response:
        return JSONResponse(svc.server.metadata(), headers={"Cache-Control": "public, max-age=300"})
