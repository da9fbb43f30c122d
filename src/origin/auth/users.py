"""People: sign-up, sign-in with throttling, sessions, password change and reset.

Passwords are hashed with Argon2id, RFC 9106's second recommended parameters (argon2-cffi's
RFC_9106_LOW_MEMORY: 3 passes over 64 MiB, 4 lanes; about 0.14 s a hash on this machine, see
docs/performance.md). Sign-ins that fail are counted by e-mail address and by client address:
after FAILURES_MAX in FAILURE_WINDOW_S, that address is refused for the rest of the window,
whether the password is right or not, and the answer does not say which (ADDRESS_FAILURES_MAX
for a client address, which many people may share). A password reset
mails a link (to the outbox; the operator's mail relay, or the operator, delivers it) that works
once, for an hour; using it ends every session of the user.
"""

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import argon2
from argon2 import profiles
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from origin import database
from origin.auth import db
from origin.tokens import digest

HASHER = argon2.PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY)
PASSWORD_MIN, PASSWORD_MAX = 10, 200
FAILURES_MAX = 5  # for one e-mail address
ADDRESS_FAILURES_MAX = 50  # from one client address (an office behind one NAT is many people)
FAILURE_WINDOW_S = 15 * 60
SESSION_S = 12 * 3600
RESET_S = 3600
USER, OPERATOR = "user", "operator"
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{2,63}$")
_DUMMY = HASHER.hash("a password nobody has")  # verified against when the address is unknown: same time taken


class UserError(Exception):
    def __init__(self, message: str, status: int = 400, code: str = "invalid_request"):
        super().__init__(message)
        self.status, self.code = status, code


@dataclass(frozen=True)
class User:
    id: str
    email: str
    name: str
    role: str
    account: str | None
    datahub_owner: str | None


@dataclass(frozen=True)
class Session:
    user: User
    csrf: str
    auth_time: int


def _user(row: object) -> User:
    r = row._mapping  # type: ignore[attr-defined]
    return User(r["id"], r["email"], r["name"], r["role"], r["account"], r["datahub_owner"])


def check_password(password: str) -> None:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise UserError(f"a password has {PASSWORD_MIN} to {PASSWORD_MAX} characters")


def normal_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > db.EMAIL or not _EMAIL.match(email):
        raise UserError("that is not an e-mail address")
    return email


class Users:
    def __init__(self, engine: Engine, clock: Callable[[], float]):
        self.engine, self.clock = engine, clock

    def sign_up(self, email: str, name: str, password: str, role: str = USER, account: str | None = None,
                datahub_owner: str | None = None) -> User:  # fmt: skip
        """A new person. Their account at the account service gets its id here (unless the
        operator opened one for them), which their tokens carry; they open it there. Their
        DataHub owner identity is the operator's to link, once the DataHub vouches for it."""
        email = normal_email(email)
        name = name.strip()
        if not 1 <= len(name) <= 200:
            raise UserError("a name has 1 to 200 characters")
        check_password(password)
        account = account or "acc_" + secrets.token_hex(8)  # the form the account service's ids have
        user = User("usr_" + secrets.token_hex(8), email, name, role, account, datahub_owner)
        now = int(self.clock())
        try:
            with database.writes(self.engine) as conn:
                conn.execute(insert(db.users).values(
                    id=user.id, email=email, name=name, password_hash=HASHER.hash(password), role=role,
                    account=account, datahub_owner=datahub_owner, created_s=now, password_s=now))  # fmt: skip
        except IntegrityError:
            raise UserError("that e-mail address has an account already: sign in", 409, "exists") from None
        return user

    def get(self, user_id: str) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(db.users).where(db.users.c.id == user_id)).first()
        return _user(row) if row else None

    def by_email(self, email: str) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(db.users).where(db.users.c.email == email.strip().lower())).first()
        return _user(row) if row else None

    def link(self, user_id: str, *, account: str | None = None, datahub_owner: str | None = None,
             role: str | None = None) -> None:  # fmt: skip
        """Set the user's account, DataHub owner identity or role (the operator's command)."""
        values = {k: v for k, v in (("account", account), ("datahub_owner", datahub_owner), ("role", role)) if v}
        with database.writes(self.engine) as conn:
            conn.execute(update(db.users).where(db.users.c.id == user_id).values(**values))

    # -- signing in ---------------------------------------------------------------------------

    def sign_in(self, email: str, password: str, client_address: str) -> tuple[User, str]:
        """The user and a new session's cookie value; a refusal that does not say what was wrong."""
        now = int(self.clock())
        keys = [f"email:{email.strip().lower()[: db.EMAIL]}", f"address:{client_address[:200]}"]
        with self.engine.connect() as conn:
            if any(self._throttled(conn, key, now) for key in keys):
                raise UserError(f"too many failed sign-ins: wait {FAILURE_WINDOW_S // 60} minutes", 429, "throttled")
            row = conn.execute(select(db.users).where(db.users.c.email == email.strip().lower())).first()
        try:
            HASHER.verify(row.password_hash if row else _DUMMY, password)
            if row is None:
                raise argon2.exceptions.VerifyMismatchError
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            self._failed(keys, now)
            raise UserError("wrong e-mail address or password", 401, "access_denied") from None
        with database.writes(self.engine) as conn:
            conn.execute(delete(db.failures).where(db.failures.c.key == keys[0]))
            if HASHER.check_needs_rehash(row.password_hash):
                conn.execute(update(db.users).where(db.users.c.id == row.id)
                             .values(password_hash=HASHER.hash(password)))  # fmt: skip
        return _user(row), self.open_session(row.id, now)

    @staticmethod
    def _throttled(conn: Connection, key: str, now: int) -> bool:
        row = conn.execute(select(db.failures).where(db.failures.c.key == key)).first()
        most = FAILURES_MAX if key.startswith("email:") else ADDRESS_FAILURES_MAX
        return row is not None and row.failed >= most and now < row.first_s + FAILURE_WINDOW_S

    def _failed(self, keys: list[str], now: int) -> None:
        with database.writes(self.engine) as conn:
            for key in keys:
                row = conn.execute(select(db.failures).where(db.failures.c.key == key)).first()
                if row is None:
                    conn.execute(insert(db.failures).values(key=key, failed=1, first_s=now))
                elif now >= row.first_s + FAILURE_WINDOW_S:
                    conn.execute(update(db.failures).where(db.failures.c.key == key).values(failed=1, first_s=now))
                else:
                    conn.execute(update(db.failures).where(db.failures.c.key == key).values(failed=row.failed + 1))

    def open_session(self, user_id: str, now: int) -> str:
        cookie = secrets.token_urlsafe(32)
        with database.writes(self.engine) as conn:
            conn.execute(insert(db.sessions).values(hash=digest(cookie), user=user_id, csrf=secrets.token_urlsafe(32),
                                                    auth_time=now, expires_s=now + SESSION_S))  # fmt: skip
        return cookie

    def session(self, cookie: str | None) -> Session | None:
        if not cookie or len(cookie) > 100:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(db.sessions, db.users).join(db.users, db.users.c.id == db.sessions.c.user)
                               .where(db.sessions.c.hash == digest(cookie))).first()  # fmt: skip
        if row is None or row.expires_s <= self.clock():
            return None
        return Session(_user(row), row.csrf, row.auth_time)

    def sign_out(self, cookie: str) -> None:
        with database.writes(self.engine) as conn:
            conn.execute(delete(db.sessions).where(db.sessions.c.hash == digest(cookie)))

    # -- passwords ----------------------------------------------------------------------------

    def change_password(self, user_id: str, old: str, new: str) -> None:
        """Ends every other session of the user."""
        check_password(new)
        with self.engine.connect() as conn:
            row = conn.execute(select(db.users.c.password_hash).where(db.users.c.id == user_id)).one()
        try:
            HASHER.verify(row.password_hash, old)
        except argon2.exceptions.VerificationError:
            raise UserError("the current password is wrong", 401, "access_denied") from None
        self._set_password(user_id, new)

    def _set_password(self, user_id: str, new: str) -> None:
        with database.writes(self.engine) as conn:
            conn.execute(update(db.users).where(db.users.c.id == user_id)
                         .values(password_hash=HASHER.hash(new), password_s=int(self.clock())))  # fmt: skip
            conn.execute(delete(db.sessions).where(db.sessions.c.user == user_id))

    def request_reset(self, email: str, link: Callable[[str], str]) -> None:
        """Mail a reset link to the address if a user has it; nothing says whether one does."""
        user = self.by_email(email)
        if user is None:
            return
        token = secrets.token_urlsafe(32)
        now = int(self.clock())
        with database.writes(self.engine) as conn:
            conn.execute(insert(db.resets).values(hash=digest(token), user=user.id, expires_s=now + RESET_S))
            conn.execute(insert(db.outbox).values(
                to=user.email, subject="Reset your Origin password", created_s=now,
                body=f"Someone asked to reset the password of {user.email} at Origin. If it was you, open\n\n"
                     f"    {link(token)}\n\nwithin an hour and choose a new one. If not, ignore this mail."))  # fmt: skip

    def reset(self, token: str, new: str) -> None:
        check_password(new)
        with database.writes(self.engine) as conn:
            row = conn.execute(select(db.resets).where(db.resets.c.hash == digest(token))).first()
            if row is None or row.used or row.expires_s <= self.clock():
                raise UserError("this reset link is used or expired: ask for a new one", 400, "invalid_link")
            conn.execute(update(db.resets).where(db.resets.c.hash == row.hash).values(used=True))
        self._set_password(row.user, new)

    def outbox(self, limit: int = 50) -> list[dict[str, object]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(db.outbox).order_by(db.outbox.c.id.desc()).limit(limit)).mappings()
            return [dict(r) for r in rows]
