"""People at the authorization server: sign-up, sign-in with throttling, sessions, CSRF on every
form, passwords changed and reset through the outbox, no framing, no open redirect."""

from auth_world import PASSWORD
from sqlalchemy import update

from origin.auth import db
from origin.auth.users import ADDRESS_FAILURES_MAX, FAILURES_MAX, HASHER


def test_sign_up_sign_in_and_out(world):
    ada = world.person("Ada")
    assert "Signed in as <strong>Ada</strong>" in ada.http.get("/").text
    assert ada.post_form("/signout", {}, csrf_from="/").status_code == 303
    assert ada.http.get("/").headers["location"] == "/signin"
    assert ada.sign_in().status_code == 303
    assert "Signed in as" in ada.http.get("/").text
    stored = world.svc.users.by_email(ada.email)
    with world.svc.engine.connect() as conn:
        hashed = conn.execute(db.users.select().where(db.users.c.id == stored.id)).one().password_hash
    assert hashed.startswith("$argon2id$") and PASSWORD not in hashed and HASHER.verify(hashed, PASSWORD)
    again = world.person("Eve", sign_up=False)
    r = again.post_form("/signup", {"email": ada.email.upper(), "name": "Eve", "password": PASSWORD})
    assert r.status_code == 409 and "has an account already" in r.text


def test_bad_input_is_refused_in_one_line(world):
    p = world.person(sign_up=False)
    for data, words in (({"email": "not-an-address", "name": "X", "password": PASSWORD}, "not an e-mail"),
                        ({"email": "x@example.dk", "name": "X", "password": "short"}, "10 to 200"),
                        ({"email": "x@example.dk", "name": "", "password": PASSWORD}, "1 to 200")):  # fmt: skip
        r = p.post_form("/signup", data)
        assert r.status_code == 400 and words in r.text and 'role="alert"' in r.text, r.text[:400]


def test_repeated_failures_are_throttled_whatever_the_password(world):
    ada = world.person()
    ada.post_form("/signout", {}, csrf_from="/")
    for _ in range(FAILURES_MAX):
        assert ada.sign_in("wrong password!").status_code == 401
    r = ada.sign_in()
    assert r.status_code == 429 and "too many failed sign-ins" in r.text
    with world.svc.engine.begin() as conn:  # the window passes
        conn.execute(update(db.failures).values(first_s=0))
    assert ada.sign_in().status_code == 303


def test_an_unknown_address_and_a_wrong_password_read_the_same(world):
    ada = world.person()
    ada.post_form("/signout", {}, csrf_from="/")
    wrong = ada.sign_in("wrong password!")
    stranger = world.person(sign_up=False)
    unknown = stranger.sign_in()
    assert wrong.status_code == unknown.status_code == 401
    assert "wrong e-mail address or password" in wrong.text and "wrong e-mail address or password" in unknown.text


def test_every_form_needs_its_csrf_token(world):
    ada = world.person()
    for path, data in (("/signout", {}), ("/password", {"old": PASSWORD, "new": "another password"}),
                       ("/clients", {"name": "x"}), ("/apps/cli_x/revoke", {})):  # fmt: skip
        assert ada.http.post(path, data=data).status_code == 403, path
        assert ada.http.post(path, data={**data, "csrf": "forged"}).status_code == 403, path
    stranger = world.person(sign_up=False)
    r = stranger.http.post("/signin", data={"email": ada.email, "password": PASSWORD})  # no cookie, no token
    assert r.status_code == 403 and "session" not in r.cookies


def test_pages_cannot_be_framed_or_cached(world):
    ada = world.person()
    for path in ("/", "/signin", "/apps", "/clients"):
        r = ada.http.get(path)
        assert (
            r.headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in r.headers["content-security-policy"]
        )
        assert r.headers["cache-control"] == "no-store"
    ada.post_form("/signout", {}, csrf_from="/")
    set_cookie = ada.sign_in().headers["set-cookie"].lower()
    assert "origin_session=" in set_cookie and "httponly" in set_cookie and "samesite=lax" in set_cookie


def test_after_sign_in_only_a_path_of_this_server(world):
    ada = world.person()
    ada.post_form("/signout", {}, csrf_from="/")
    for target, expected in (("https://evil.example/", "/"), ("//evil.example/x", "/"), ("/\\evil.example", "/"),
                             ("/apps", "/apps")):  # fmt: skip
        r = ada.http.post("/signin", data={"csrf": ada.csrf(f"/signin?next={target}"), "email": ada.email,
                                           "password": PASSWORD, "next": target})  # fmt: skip
        assert r.headers["location"] == expected, target
        ada.post_form("/signout", {}, csrf_from="/")


def test_password_change_and_reset_through_the_outbox(world):
    ada = world.person()
    other_browser = world.person(sign_up=False)
    other_browser.email = ada.email
    other_browser.sign_in()
    assert ada.post_form("/password", {"old": "wrong password!", "new": "a new password"}).status_code == 401
    assert ada.post_form("/password", {"old": PASSWORD, "new": "a new password"}).status_code == 303
    assert "Signed in as" in ada.http.get("/").text  # this browser got a new session
    assert other_browser.http.get("/").status_code == 303  # the other one's ended
    stranger = world.person(sign_up=False)
    r = stranger.post_form("/reset", {"email": "nobody@example.dk"})
    assert r.status_code == 200 and "If that address has an account" in r.text
    assert world.svc.users.outbox() == []
    stranger.post_form("/reset", {"email": ada.email})
    (mail,) = world.svc.users.outbox()
    assert mail["to"] == ada.email
    link = next(line.strip() for line in mail["body"].splitlines() if "/reset/" in line)
    path = link.removeprefix(world.url)
    assert stranger.post_form(path, {"new": "the newest password"}).status_code == 303
    assert stranger.post_form(path, {"new": "yet another password"}).status_code == 400  # used once
    assert ada.http.get("/").status_code == 303  # every session ended
    assert ada.sign_in("the newest password").status_code == 303


def test_one_client_address_is_refused_only_after_many_failures(world):
    ada = world.person()
    ada.post_form("/signout", {}, csrf_from="/")
    stranger = world.person(sign_up=False)
    for n in range(FAILURES_MAX):  # five people's typos from one office: nobody is locked out
        stranger.email = f"typo{n}@example.dk"
        assert stranger.sign_in().status_code == 401
    assert ada.sign_in().status_code == 303
    ada.post_form("/signout", {}, csrf_from="/")
    with world.svc.engine.begin() as conn:
        conn.execute(update(db.failures).where(db.failures.c.key == "address:127.0.0.1")
                     .values(failed=ADDRESS_FAILURES_MAX))  # fmt: skip
    r = ada.sign_in()
    assert r.status_code == 429 and "too many failed sign-ins" in r.text


def test_a_form_too_large_is_refused_before_it_is_read(world):
    r = world.person(sign_up=False).http.post("/token", content=b"grant_type=" + b"x" * 100_000,
                                              headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert r.status_code == 413
