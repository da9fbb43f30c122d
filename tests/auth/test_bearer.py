"""A resource server checks the authorization server's access tokens offline: signature by a
published key, typ, issuer, audience, expiry; it fetches the keys again when the server
rotates them, but a forged key id makes it fetch at most once every REFETCH_S."""

import time

import httpx2
from joserfc import jwt

from origin.auth.keys import PUBLISH_AHEAD_S
from origin.auth.oauth import ACCOUNTS, DATAHUB
from origin.bearer import REFETCH_S, JwksAuthenticator
from origin.tokens import Principal


def checker(world, audience=ACCOUNTS, issuer=None, clock=time.monotonic):
    fetched = []

    def fetch(url):
        fetched.append(url)
        return httpx2.get(url).json()

    def principal(claims):
        return Principal(claims["sub"], "owner", frozenset(claims["scope"].split()))

    return JwksAuthenticator(issuer or world.url, audience, fetch, principal, clock), fetched


def signed(world, claims, header=None):
    return jwt.encode({"alg": "ES256", "typ": "at+jwt", **(header or {})}, claims, world.svc.keys.signing())


def test_a_valid_token_names_its_user_and_scopes(world):
    ada = world.person()
    _, token, _ = world.code_flow(ada, world.client(ada), scope="ggo.read")
    auth, fetched = checker(world)
    found = auth.authenticate(token["access_token"])
    assert found == Principal(world.svc.users.by_email(ada.email).id, "owner", frozenset({"ggo.read"}))
    assert fetched == [f"{world.url}/jwks.json"]
    assert auth.authenticate(token["access_token"]) == found and len(fetched) == 1  # the keys are kept


def test_wrong_audience_issuer_expiry_type_or_signature_is_refused(world):
    ada = world.person()
    _, token, _ = world.code_flow(ada, world.client(ada), scope="openid ggo.read")
    access = token["access_token"]
    assert checker(world, audience=DATAHUB)[0].authenticate(access) is None
    auth, _ = checker(world)
    now = int(time.time())
    base = {"iss": world.url, "aud": [ACCOUNTS], "sub": "usr_x", "client_id": "cli_x", "iat": now - 700,
            "jti": "j1", "scope": "ggo.read"}  # fmt: skip
    assert auth.authenticate(signed(world, {**base, "exp": now + 60})) is not None
    assert auth.authenticate(signed(world, {**base, "exp": now - 1})) is None  # expired
    assert auth.authenticate(signed(world, {**base, "exp": now + 60, "iss": "https://evil.example"})) is None
    assert auth.authenticate(signed(world, {**base, "exp": now + 60}, {"typ": "JWT"})) is None  # an ID token's type
    assert auth.authenticate(token["id_token"]) is None
    head, body, sig = access.split(".")
    assert auth.authenticate(f"{head}.{body}.{sig[:-4]}AAAA") is None  # a forged signature
    assert auth.authenticate("not a token") is None and auth.authenticate("a.b.c") is None


def test_rotated_keys_are_fetched_a_forged_kid_is_not_fetched_again_at_once(world):
    ada = world.person()
    client = world.client(ada, scope="ggo.read offline_access")
    app, token, _ = world.code_flow(ada, client, scope="ggo.read offline_access")
    now = [1000.0]
    auth, fetched = checker(world, clock=lambda: now[0])
    assert auth.authenticate(token["access_token"]) is not None
    world.svc.keys.rotate()
    world.svc.keys.clock = lambda: time.time() + PUBLISH_AHEAD_S + 2
    now[0] += PUBLISH_AHEAD_S
    fresh = app.refresh_token(f"{world.url}/token", refresh_token=token["refresh_token"])["access_token"]
    assert auth.authenticate(fresh) is not None and len(fetched) == 2  # the new key, fetched once
    forged = jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": "nobody"}, {"iss": world.url},
                        world.svc.keys.signing().keys[0])  # fmt: skip
    for _ in range(5):
        assert auth.authenticate(forged) is None
    assert len(fetched) == 2  # not again within REFETCH_S
    now[0] += REFETCH_S
    auth.authenticate(forged)
    assert len(fetched) == 3
