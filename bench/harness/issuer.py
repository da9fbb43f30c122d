"""An authorization server's signing side alone, for the tests and benchmarks of the services
that take its tokens: an ES256 key published as a JWKS at `{url}/jwks.json`, and access tokens
of the shape Origin's authorization server signs (RFC 9068; its claims `role`, `account`,
`datahub_owner`). The real server's own tokens are tested against both services in
tests/auth and tests/test_cli.py."""

import time
import uuid
from typing import Any

from fastapi import FastAPI
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from origin.auth.oauth import ACCOUNTS, DATAHUB, OPERATOR_SCOPES, SCOPES

OWNER_SCOPES = " ".join(s for s in SCOPES if s not in OPERATOR_SCOPES)
DAY_S = 86400


class Issuer:
    def __init__(self, url: str = "http://auth"):
        self.url = url
        self.key = ECKey.generate_key("P-256", parameters={"use": "sig", "alg": "ES256"}, private=True)
        self.key.ensure_kid()

    def jwks(self) -> dict[str, Any]:
        return KeySet([self.key]).as_dict(private=False)

    def app(self) -> FastAPI:
        """What the services fetch: the JWKS."""
        app = FastAPI()
        app.get("/jwks.json")(self.jwks)
        return app

    def token(self, scope: str = OWNER_SCOPES, *, aud: tuple[str, ...] = (ACCOUNTS, DATAHUB), sub: str = "usr_test",
              exp_in: int = DAY_S, iss: str | None = None, key: ECKey | None = None, **claims: Any) -> str:  # fmt: skip
        """An access token; by default a day long, for both services, with every scope but the
        operator's."""
        now = int(time.time())
        body = {"iss": iss or self.url, "aud": list(aud), "sub": sub, "client_id": "cli_test", "iat": now - 5,
                "exp": now + exp_in, "jti": uuid.uuid4().hex, "scope": scope, "role": "user", **claims}  # fmt: skip
        signer = key or self.key
        return jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": signer.kid}, body, signer)

    def owner(self, account: str | None = None, datahub_owner: str | None = None, **kw: Any) -> str:
        """A user's token acting for an account and/or a DataHub owner identity."""
        claims = {k: v for k, v in (("account", account), ("datahub_owner", datahub_owner)) if v}
        return self.token(sub=f"usr_{account or datahub_owner}", **claims, **kw)

    def operator(self, **kw: Any) -> str:
        """The issuing body's operator's token, with every scope."""
        return self.token(f"{OWNER_SCOPES} operator", sub="usr_operator", role="operator", **kw)
