"""OAuth 2.0 and OpenID Connect on Authlib's server core, as RFC 9700 (the security best current
practice) asks: the authorization code grant with PKCE (S256 only, required of every client,
checked at the authorization endpoint too: Authlib alone would issue a code without a
challenge), client credentials for services, refresh tokens rotated at each use (a rotated one
presented again revokes its whole family), no implicit and no password grant, exact redirect
URIs, `iss` in every authorization response (RFC 9207), metadata (RFC 8414), access tokens as
JWTs (RFC 9068) signed by `keys.SigningKeys`, introspection (RFC 7662), revocation (RFC 7009),
ID tokens and userinfo.

Authlib is framework-neutral here: `Incoming` is the request as the FastAPI app read it, and an
`Answer` is what the server says, for the app to send."""

import hmac
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from authlib.oauth2 import rfc6749, rfc7009, rfc7636, rfc7662, rfc8414, rfc9068, rfc9207
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from origin import database
from origin.auth import db
from origin.auth.keys import ALG, SigningKeys
from origin.auth.users import User, Users
from origin.tokens import digest

ACCESS_TOKEN_S = 600
REFRESH_TOKEN_S = 30 * 86400
CODE_S = 60
DATAHUB, ACCOUNTS = "origin-datahub", "origin-accounts"  # the resource servers' audience names
SCOPES = {  # what each scope lets an app do, in the consent page's words; and whose APIs it is for
    "openid": ("know who you are (sign you in)", ()),
    "profile": ("see your name and e-mail address", ()),
    "offline_access": ("keep its access while you are away (until you revoke it)", ()),
    "meteringpoints.read": ("see your metering points", (DATAHUB,)),
    "measurements.read": ("see your meters' measurements", (DATAHUB,)),
    "ggo.read": ("see your GGOs, transfers and retirements", (ACCOUNTS,)),
    "ggo.transfer": ("transfer your GGOs to others", (ACCOUNTS,)),
    "ggo.retire": ("retire your GGOs against your consumption", (ACCOUNTS,)),
    "agreements.write": ("propose, accept and end transfer agreements for you", (ACCOUNTS,)),
    "reports.read": ("see your hourly matching and reports", (ACCOUNTS,)),
    "meters.write": ("add metering points to your account", (ACCOUNTS, DATAHUB)),
    "account.open": ("open your account at the account service", (ACCOUNTS,)),
    "operator": ("act as the issuing body's operator", (ACCOUNTS, DATAHUB)),  # only an operator's to grant
}
OPERATOR_SCOPES = {"operator"}
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")


@dataclass
class Incoming:
    """A request as the app read it: its URL, headers, query and form fields (every value of
    a repeated field kept, so Authlib can refuse repeats)."""

    method: str
    url: str
    headers: Mapping[str, str]  # looked up whatever the case
    query: list[tuple[str, str]]
    form: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Answer:
    status: int
    body: Any
    headers: list[tuple[str, str]]

    @property
    def location(self) -> str | None:
        return next((v for k, v in self.headers if k.lower() == "location"), None)

    @location.setter
    def location(self, value: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k.lower() != "location"] + [("Location", value)]


class _Payload(rfc6749.OAuth2Payload):
    def __init__(self, fields: list[tuple[str, str]]):
        self._datalist: dict[str, list[str]] = {}
        for k, v in fields:
            self._datalist.setdefault(k, []).append(v)
        self._data = {k: v[0] for k, v in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> Any:
        return self._datalist


class _Request(rfc6749.OAuth2Request):
    def __init__(self, incoming: Incoming):
        super().__init__(incoming.method, incoming.url, headers=incoming.headers)
        self.payload = _Payload(incoming.query + incoming.form)
        self._args = _Payload(incoming.query).data
        self._form = _Payload(incoming.form).data

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


@dataclass
class Subject:
    """The user an authorization is for, with when they signed in."""

    user: User
    auth_time: int

    def get_user_id(self) -> str:
        return self.user.id


@dataclass
class Client(rfc6749.ClientMixin):
    id: str
    secret_hash: str | None
    owner: str
    name: str
    redirect_uris: list[str]
    grant_types: list[str]
    scope: str

    @property
    def public(self) -> bool:
        return self.secret_hash is None

    def get_client_id(self) -> str:
        return self.id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str) -> str:
        """The scopes asked for that the client may have; asked for none, all it may have."""
        if not scope:
            return self.scope
        allowed = set(self.scope.split())
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris  # exactly, character for character

    def check_client_secret(self, client_secret: str) -> bool:
        return self.secret_hash is not None and hmac.compare_digest(digest(client_secret), self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


@dataclass
class Code(rfc6749.AuthorizationCodeMixin):
    hash: str
    client: str
    user: str
    redirect_uri: str
    scope: str
    nonce: str | None
    challenge: str
    auth_time: int

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> list[str]:
        return ["pwd"]


@dataclass
class Token:
    """An access token (its claims) or a refresh token (its row), as revocation and
    introspection see it."""

    kind: str  # access_token | refresh_token
    client: str
    user: str | None
    scope: str
    expires_s: int
    revoked: bool
    now: Callable[[], float]
    jti: str | None = None
    family: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)

    def check_client(self, client: Client) -> bool:
        return self.client == client.id

    def get_scope(self) -> str:
        return self.scope

    def is_expired(self) -> bool:
        return self.expires_s <= self.now()

    def is_revoked(self) -> bool:
        return self.revoked


def client_row(row: Any) -> Client:
    return Client(row.id, row.secret_hash, row.owner, row.name, json.loads(row.redirect_uris),
                  json.loads(row.grant_types), row.scope)  # fmt: skip


class _PKCE(rfc7636.CodeChallenge):
    """S256 only, and required of every client at the authorization endpoint and at the token
    endpoint (RFC 9700 2.1.1; OAuth 2.1)."""

    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge (S256)", redirect_uri=redirect_uri)
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256", redirect_uri=redirect_uri)
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'")
        super().validate_code_verifier(grant, result)

    def get_authorization_code_challenge(self, authorization_code: Code) -> str:
        return authorization_code.challenge

    def get_authorization_code_challenge_method(self, authorization_code: Code) -> str:
        return "S256"


class Server(rfc6749.AuthorizationServer):
    def __init__(self, engine: Engine, users: Users, keys: SigningKeys, issuer: str, clock: Callable[[], float]):
        super().__init__(scopes_supported=list(SCOPES))
        self.engine, self.users, self.keys, self.issuer, self.clock = engine, users, keys, issuer, clock
        server = self

        class CodeGrant(grants.AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post", "none"]

            def save_authorization_code(self, code: str, request: Any) -> None:
                subject: Subject = request.user
                now = int(server.clock())
                with database.writes(server.engine) as conn:
                    conn.execute(insert(db.codes).values(
                        hash=digest(code), client=request.client.id, user=subject.user.id,
                        redirect_uri=request.payload.redirect_uri or request.client.get_default_redirect_uri(),
                        scope=request.scope or "", nonce=request.payload.data.get("nonce"),
                        challenge=request.payload.data["code_challenge"], auth_time=subject.auth_time,
                        expires_s=now + CODE_S))  # fmt: skip

            def query_authorization_code(self, code: str, client: Client) -> Code | None:
                return server.code(code, client)

            def delete_authorization_code(self, authorization_code: Code) -> None:
                with database.writes(server.engine) as conn:
                    conn.execute(update(db.codes).where(db.codes.c.hash == authorization_code.hash)
                                 .values(used_s=int(server.clock())))  # fmt: skip

            def authenticate_user(self, authorization_code: Code) -> Subject | None:
                user = server.users.get(authorization_code.user)
                return Subject(user, authorization_code.auth_time) if user else None

        class RefreshGrant(grants.RefreshTokenGrant):
            TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post", "none"]
            INCLUDE_NEW_REFRESH_TOKEN = True

            def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
                return server.refresh_token(refresh_token)

            def authenticate_user(self, refresh_token: Token) -> Subject | None:
                user = server.users.get(refresh_token.user or "")
                return Subject(user, int(server.clock())) if user else None

            def revoke_old_credential(self, refresh_token: Token) -> None:
                with database.writes(server.engine) as conn:
                    conn.execute(update(db.refresh_tokens).where(db.refresh_tokens.c.hash == refresh_token.jti)
                                 .values(used_s=int(server.clock())))  # fmt: skip

        class ClientGrant(grants.ClientCredentialsGrant):
            TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post"]

        class OpenID(OpenIDCode):
            def exists_nonce(self, nonce: str, request: Any) -> bool:
                with server.engine.connect() as conn:
                    return conn.execute(select(db.codes.c.hash).where(
                        db.codes.c.client == request.payload.client_id, db.codes.c.nonce == nonce)).first() is not None  # fmt: skip

            def generate_user_info(self, user: Subject, scope: str) -> UserInfo:
                return server.user_info(user.user, scope)

            def resolve_client_private_key(self, client: Client) -> Any:
                return server.keys.signing()

            def get_client_algorithm(self, client: Client) -> str:
                return ALG

            def get_client_claims(self, client: Client) -> dict[str, Any]:
                return {"iss": server.issuer, "aud": [client.id]}

        class Issuer(rfc9207.IssuerParameter):
            def get_issuer(self) -> str:
                return server.issuer

        class Revocation(rfc7009.RevocationEndpoint):
            CLIENT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post", "none"]

            def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
                return server.token(token_string)

            def revoke_token(self, token: Token, request: Any) -> None:
                server.revoke(token)

        class Introspection(rfc7662.IntrospectionEndpoint):
            CLIENT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post"]

            def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
                return server.token(token_string)

            def check_permission(self, token: Token, client: Client, request: Any) -> bool:
                owner = server.users.get(client.owner)
                return token.client == client.id or (owner is not None and owner.role == "operator")

            def introspect_token(self, token: Token) -> dict[str, Any]:
                out = {"active": True, "client_id": token.client, "scope": token.scope, "exp": token.expires_s,
                       "token_type": "Bearer" if token.kind == "access_token" else "refresh_token",
                       "iss": server.issuer}  # fmt: skip
                if token.user:
                    out["sub"] = token.user
                out.update({k: token.claims[k] for k in ("aud", "iat", "jti") if k in token.claims})
                return out

        self.register_grant(CodeGrant, [_PKCE(required=True), OpenID(require_nonce=False)])
        self.register_grant(RefreshGrant)
        self.register_grant(ClientGrant)
        self.register_extension(Issuer())
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)
        self.register_token_generator("default", _AccessTokens(self))

    # -- Authlib's framework hooks -------------------------------------------------------------

    def query_client(self, client_id: str) -> Client | None:
        if not isinstance(client_id, str) or len(client_id) > db.ID:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(db.clients).where(db.clients.c.id == client_id)).first()
        return client_row(row) if row else None

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        jti = jwt.decode(token["access_token"], self.keys.signing()).claims.get("jti")
        family = None
        if token.get("refresh_token"):
            old = request.refresh_token
            family = old.family if old is not None else "fam_" + secrets.token_hex(8)
            now = int(self.clock())
            with database.writes(self.engine) as conn:
                conn.execute(insert(db.refresh_tokens).values(
                    hash=digest(token["refresh_token"]), family=family, client=request.client.id,
                    user=request.user.user.id, scope=token.get("scope", ""), issued_s=now,
                    expires_s=now + REFRESH_TOKEN_S))  # fmt: skip
        if request.authorization_code is not None:
            with database.writes(self.engine) as conn:
                conn.execute(update(db.codes).where(db.codes.c.hash == request.authorization_code.hash)
                             .values(family=family, jti=jti))  # fmt: skip

    def create_oauth2_request(self, request: Any) -> rfc6749.OAuth2Request:
        return request if isinstance(request, rfc6749.OAuth2Request) else _Request(request)

    def create_json_request(self, request: Any) -> rfc6749.JsonRequest:
        return rfc6749.JsonRequest(request.method, request.url, request.headers)

    def handle_response(self, status: int, body: Any, headers: Any) -> Answer:
        return Answer(status, body, list(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signals are listened to."""

    # -- Origin's own ------------------------------------------------------------------------

    def code(self, code: str, client: Client) -> Code | None:
        """An unused, unexpired code of this client. One presented a second time revokes the
        tokens it gave (RFC 9700 4.2.4: it was stolen, or the first use was)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(db.codes).where(db.codes.c.hash == digest(code))).first()
        if row is None or row.client != client.id:
            return None
        if row.used_s is not None:
            self._revoke_grant(row.family, row.jti)
            return None
        if row.expires_s <= self.clock():
            return None
        return Code(row.hash, row.client, row.user, row.redirect_uri, row.scope, row.nonce, row.challenge,
                    row.auth_time)  # fmt: skip

    def refresh_token(self, presented: str) -> Token | None:
        """A refresh token still valid. One already rotated and presented again revokes its
        whole family: an attacker and the client both had it, and which is which is unknown."""
        row = self._refresh_row(presented)
        if row is None or row.revoked or row.expires_s <= self.clock():
            return None
        if row.used_s is not None:
            self._revoke_grant(row.family, None)
            return None
        return Token("refresh_token", row.client, row.user, row.scope, row.expires_s, row.revoked, self.clock,
                     jti=row.hash, family=row.family)  # fmt: skip

    def token(self, presented: str) -> Token | None:
        """The token, access or refresh, as revocation and introspection see it."""
        if presented.count(".") == 2:
            try:
                claims = jwt.decode(presented, self._verifying()).claims
            except (JoseError, ValueError):
                return None
            with self.engine.connect() as conn:
                revoked = conn.execute(select(db.revoked_access.c.jti)
                                       .where(db.revoked_access.c.jti == claims.get("jti"))).first() is not None  # fmt: skip
            user = claims.get("sub") if claims.get("sub") != claims.get("client_id") else None
            return Token("access_token", claims["client_id"], user, claims.get("scope", ""), int(claims["exp"]),
                         revoked, self.clock, jti=claims.get("jti"), claims=claims)  # fmt: skip
        row = self._refresh_row(presented)
        if row is None:
            return None
        return Token("refresh_token", row.client, row.user, row.scope, row.expires_s,
                     row.revoked or row.used_s is not None, self.clock, jti=row.hash, family=row.family)  # fmt: skip

    def _refresh_row(self, presented: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(select(db.refresh_tokens).where(db.refresh_tokens.c.hash == digest(presented))).first()

    def _verifying(self) -> KeySet:
        return KeySet.import_key_set(self.keys.jwks())  # type: ignore[arg-type]

    def revoke(self, token: Token) -> None:
        if token.kind == "refresh_token":
            self._revoke_grant(token.family, None)
        else:
            self._revoke_grant(None, token.jti, token.expires_s)

    def _revoke_grant(self, family: str | None, jti: str | None, expires_s: int | None = None) -> None:
        with database.writes(self.engine) as conn:
            if family is not None:
                conn.execute(update(db.refresh_tokens).where(db.refresh_tokens.c.family == family).values(revoked=True))
            if jti is not None and conn.execute(select(db.revoked_access.c.jti)
                                                .where(db.revoked_access.c.jti == jti)).first() is None:  # fmt: skip
                conn.execute(insert(db.revoked_access).values(
                    jti=jti, expires_s=expires_s or int(self.clock()) + ACCESS_TOKEN_S))  # fmt: skip

    def user_info(self, user: User, scope: str) -> UserInfo:
        info = UserInfo(sub=user.id)
        if "profile" in scope.split():
            info.update(name=user.name, email=user.email)
        return info

    def metadata(self) -> dict[str, Any]:
        """RFC 8414's metadata (also OpenID Connect discovery's), checked by Authlib."""
        i = self.issuer
        data = rfc8414.AuthorizationServerMetadata({
            "issuer": i, "authorization_endpoint": f"{i}/authorize", "token_endpoint": f"{i}/token",
            "jwks_uri": f"{i}/jwks.json",
            "scopes_supported": list(SCOPES), "response_types_supported": ["code"],
            "response_modes_supported": ["query"], "grant_types_supported": list(GRANT_TYPES),
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "revocation_endpoint": f"{i}/revoke",
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "introspection_endpoint": f"{i}/introspect",
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": True,
            "userinfo_endpoint": f"{i}/userinfo", "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [ALG], "claims_supported": ["sub", "name", "email"],
        })  # fmt: skip
        data.validate()
        return dict(data)


class _AccessTokens(rfc9068.JWTBearerTokenGenerator):
    """RFC 9068 access tokens: `aud` names the resource servers whose scopes the token has; a
    user's token carries the user's account and DataHub owner identity, which those servers
    serve; a client's own token (client credentials) acts for the user who registered it."""

    def __init__(self, server: Server):
        super().__init__(server.issuer, alg=ALG, refresh_token_generator=lambda **_: secrets.token_urlsafe(32),
                         expires_generator=lambda *_: ACCESS_TOKEN_S)  # fmt: skip
        self.server = server

    def get_jwks(self) -> Any:
        return self.server.keys.signing()

    def get_audiences(self, client: Client, user: Subject | None, scope: str) -> list[str]:
        audiences = sorted({a for s in (scope or "").split() if s in SCOPES for a in SCOPES[s][1]})
        return audiences or [self.server.issuer]

    def get_extra_claims(self, client: Client, grant_type: str, user: Subject | None, scope: str) -> dict[str, Any]:
        who = user.user if user is not None else self.server.users.get(client.owner)
        if who is None:
            return {}
        claims: dict[str, Any] = {"role": who.role}
        if user is None:
            claims["act_for"] = who.id
        if who.account:
            claims["account"] = who.account
        if who.datahub_owner:
            claims["datahub_owner"] = who.datahub_owner
        return claims

    def get_auth_time(self, user: Subject | None) -> int | None:
        return user.auth_time if user is not None else None

    def generate(self, grant_type: str, client: Client, user: Any = None, scope: str | None = None,
                 expires_in: int | None = None, include_refresh_token: bool = True) -> dict[str, Any]:  # fmt: skip
        """A refresh token only where the user granted offline_access."""
        offline = include_refresh_token and "offline_access" in (scope or "").split()
        return dict(super().generate(grant_type, client, user, scope, expires_in, offline))
