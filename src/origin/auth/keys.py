"""The keys that sign access and ID tokens: ES256 (P-256), each named by its RFC 7638
thumbprint. One signs at a time, the newest; `rotate` makes a new one, which signs from then on,
while the one before stays published in the JWKS until every token it signed has expired, so a
resource server that fetches the JWKS when it meets an unknown `kid` never refuses a valid
token: rotation without downtime."""

import json
from collections.abc import Callable
from typing import Any

from joserfc.jwk import ECKey, KeySet
from sqlalchemy import insert, or_, select, update
from sqlalchemy.engine import Engine

from origin import database
from origin.auth import db

ALG = "ES256"


class SigningKeys:
    def __init__(self, engine: Engine, clock: Callable[[], float], published_s: int):
        """`published_s`: how long a retired key stays in the JWKS (the longest token life)."""
        self.engine, self.clock, self.published_s = engine, clock, published_s

    def rotate(self) -> str:
        """A new signing key; the kid."""
        key = ECKey.generate_key("P-256", parameters={"use": "sig", "alg": ALG}, private=True)
        kid = key.thumbprint()
        now = int(self.clock())
        with database.writes(self.engine) as conn:
            conn.execute(update(db.signing_keys).where(db.signing_keys.c.retired_s.is_(None)).values(retired_s=now))
            conn.execute(insert(db.signing_keys).values(kid=kid, private_jwk=json.dumps(key.as_dict(private=True)),
                                                        created_s=now))  # fmt: skip
        return kid

    def signing(self) -> KeySet:
        """The key that signs now, as a set of one (so the token's header names its kid)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(db.signing_keys).where(db.signing_keys.c.retired_s.is_(None))
                               .order_by(db.signing_keys.c.created_s.desc())).first()  # fmt: skip
        if row is None:
            raise RuntimeError("the authorization server has no signing key (run `origin auth init`)")
        return KeySet([ECKey.import_key(json.loads(row.private_jwk), {"kid": row.kid, "use": "sig", "alg": ALG})])

    def jwks(self) -> dict[str, Any]:
        """The public keys a resource server checks tokens with: the signing one and those
        retired less than `published_s` ago."""
        since = int(self.clock()) - self.published_s
        with self.engine.connect() as conn:
            rows = conn.execute(select(db.signing_keys).where(or_(db.signing_keys.c.retired_s.is_(None),
                                                                  db.signing_keys.c.retired_s > since))
                                .order_by(db.signing_keys.c.created_s.desc())).fetchall()  # fmt: skip
        keys = []
        for row in rows:
            key = ECKey.import_key(json.loads(row.private_jwk), {"kid": row.kid, "use": "sig", "alg": ALG})
            keys.append(key.as_dict(private=False))
        return {"keys": keys}
