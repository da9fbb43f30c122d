"""Access tokens from Origin's authorization server, checked by a resource server offline:
signed by a key of the server's JWKS, `typ` at+jwt, the server's `iss`, this resource server's
name in `aud`, not expired (RFC 9068 section 4). The JWKS is fetched once and again when a token
names a key not in it (the server rotated its key), at most once every REFETCH_S, so a forged
`kid` cannot make the resource server hammer the authorization server. Authlib's validator does
the checking; the claims make the request's `Principal`, with the token's scopes.
"""

import json
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from authlib.oauth2.rfc6750.errors import InvalidTokenError
from authlib.oauth2.rfc9068 import JWTBearerTokenValidator
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from origin.tokens import Principal

REFETCH_S = 30.0
TOKEN_LENGTH_MAX = 8192
Fetch = Callable[[str], dict[str, Any]]


class _Validator(JWTBearerTokenValidator):
    def __init__(self, issuer: str, audience: str, keys: Callable[[], KeySet]):
        super().__init__(issuer, audience)
        self._keys = keys

    def get_jwks(self) -> KeySet:
        return self._keys()


class JwksAuthenticator:
    def __init__(self, issuer: str, audience: str, fetch: Fetch, principal: Callable[[dict[str, Any]], Principal | None],
                 clock: Callable[[], float] = time.monotonic):  # fmt: skip
        """`fetch(url)`: the JSON at a URL; `principal(claims)`: who the token's claims name here
        (None: nobody this service serves)."""
        self.issuer, self.audience = issuer.rstrip("/"), audience
        self._fetch, self._principal, self._clock = fetch, principal, clock
        self._lock = threading.Lock()
        self._keys: KeySet | None = None
        self._fetched = -REFETCH_S
        self._validator = _Validator(self.issuer, audience, self.keys)

    def keys(self) -> KeySet:
        with self._lock:
            if self._keys is None:
                self._refetch()
            assert self._keys is not None
            return self._keys

    def _refetch(self) -> None:
        self._fetched = self._clock()
        self._keys = KeySet.import_key_set(self._fetch(f"{self.issuer}/jwks.json"))  # type: ignore[arg-type]

    def _knows(self, kid: str | None) -> bool:
        keys = self.keys()
        return any(k.kid == kid for k in keys.keys)

    def claims(self, bearer_token: str) -> dict[str, Any] | None:
        """The claims of a valid access token for this resource server; else None."""
        if len(bearer_token) > TOKEN_LENGTH_MAX or bearer_token.count(".") != 2:
            return None
        try:
            header = jws.extract_compact(bearer_token.encode()).protected
        except (JoseError, ValueError, json.JSONDecodeError):
            return None
        if str(header.get("typ", "")).lower() not in ("at+jwt", "application/at+jwt"):
            return None
        if not self._knows(header.get("kid")):
            with self._lock:
                if self._clock() - self._fetched >= REFETCH_S:
                    self._refetch()
        try:
            claims = self._validator.authenticate_token(bearer_token)
            self._validator.validate_token(claims, None, None)
        except InvalidTokenError:
            return None
        return dict(claims)

    def authenticate(self, bearer_token: str) -> Principal | None:
        claims = self.claims(bearer_token)
        who = None if claims is None else self._principal(claims)
        return None if who is None else replace(who, token=bearer_token)
