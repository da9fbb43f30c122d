"""The keys that sign access and ID tokens: ES256 (P-256), each named by its RFC 7638
thumbprint. `rotate` makes a new key and publishes it in the JWKS at once, but it signs only
PUBLISH_AHEAD_S later: a resource server fetches the JWKS when a token names a key it does not
know, at most every `bearer.REFETCH_S`, so by the time a token names the new key, any resource
server either fetched a JWKS that has it or may fetch again. The key before stays published
until every token it signed has expired. So rotation needs no downtime anywhere."""

import json
from collections.abc import Callable
from typing import Any

from joserfc.jwk import ECKey, KeySet
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine

from origin import database
from origin.auth import db
from origin.bearer import REFETCH_S

ALG = "ES256"
PUBLISH_AHEAD_S = 2 * REFETCH_S


def _key(row: Any) -> ECKey:
    return ECKey.import_key(json.loads(row.private_jwk), {"kid": row.kid, "use": "sig", "alg": ALG})


class SigningKeys:
    def __init__(self, engine: Engine, clock: Callable[[], float], published_s: int):
        """`published_s`: how long a key stays published after it stops signing (the longest
        token life)."""
        self.engine, self.clock, self.published_s = engine, clock, published_s

    def rotate(self) -> str:
        """A new signing key (it signs from PUBLISH_AHEAD_S on, or at once if it is the first);
        the kid."""
        key = ECKey.generate_key("P-256", parameters={"use": "sig", "alg": ALG}, private=True)
        kid = key.thumbprint()
        with database.writes(self.engine) as conn:
            latest = conn.execute(select(func.max(db.signing_keys.c.created_s))).scalar()
            created = max(int(self.clock()), (latest or 0) + 1)  # keys are strictly in the order made
            conn.execute(insert(db.signing_keys).values(kid=kid, private_jwk=json.dumps(key.as_dict(private=True)),
                                                        created_s=created))  # fmt: skip
        return kid

    def _rows(self) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(db.signing_keys).order_by(db.signing_keys.c.created_s,
                                                                      db.signing_keys.c.kid)))  # fmt: skip

    def _signing_index(self, rows: list[Any], now: float) -> int:
        """The newest key published PUBLISH_AHEAD_S ago (the first key signs at once)."""
        ready = [i for i, r in enumerate(rows) if r.created_s <= now - PUBLISH_AHEAD_S]
        return ready[-1] if ready else 0

    def signing(self) -> KeySet:
        """The key that signs now, as a set of one (so the token's header names its kid)."""
        rows = self._rows()
        if not rows:
            raise RuntimeError("the authorization server has no signing key (run `origin auth init`)")
        return KeySet([_key(rows[self._signing_index(rows, self.clock())])])

    def jwks(self) -> dict[str, Any]:
        """The public keys a resource server checks tokens with: the one signing, those to sign
        next, and those that stopped signing less than `published_s` ago."""
        rows, now = self._rows(), self.clock()
        signing = self._signing_index(rows, now) if rows else 0
        published = []
        for i, row in enumerate(rows):
            stopped = rows[i + 1].created_s + PUBLISH_AHEAD_S if i + 1 < len(rows) else None
            if i >= signing or (stopped is not None and now < stopped + self.published_s):
                published.append(_key(row).as_dict(private=False))
        return {"keys": published[::-1]}
