"""The authorization server's costs. The server and an account service (no ledger needed for
what is measured) run in this process, each on a real port. Prints:
- the cost of checking an access token offline (`origin.bearer`: signature, typ, iss, aud,
  expiry), as a ratio to the cost of the cheapest protected request the account service
  serves (GET /v1/account over HTTP with keep-alive: that same check, one read, the answer);
- sign-ins a second (POST /signin over HTTP, 2 clients), with Argon2id's parameters, and the
  bare hash rate as the yardstick.

    .venv/bin/python bench/auth.py [--checks 5000] [--requests 2000] [--sign-ins 40]
"""

import argparse
import concurrent.futures
import os
import re
import tempfile
import time
from pathlib import Path

import httpx2

from harness.soak import free_port, serving
from origin.accounts import service as accounts_service
from origin.accounts import wallets
from origin.accounts.custody import LocalKek
from origin.auth import service as auth_service
from origin.auth.oauth import ACCOUNTS
from origin.auth.users import HASHER
from origin.bearer import JwksAuthenticator
from origin.tokens import Principal

PASSWORD = "correct horse battery"


def per_call_s(work, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        work()
    return (time.perf_counter() - started) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--sign-ins", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        port = free_port()
        auth_service.init(tmp / "auth", issuer=f"http://127.0.0.1:{port}")
        auth = auth_service.Service(tmp / "auth")
        kek = tmp / "kek.hex"
        kek.write_text(LocalKek.generate_hex())
        accounts_service.init(tmp / "accounts", ledger_url="http://127.0.0.1:9", datahub_url="http://127.0.0.1:9",
                              kek=kek, auth_issuer=f"http://127.0.0.1:{port}")  # fmt: skip
        accounts = accounts_service.Service(tmp / "accounts", kek=kek)
        account = wallets.create(accounts.engine, accounts.kek, "Bench", 0)
        with serving(auth.app(), port) as auth_url, serving(accounts.app(), free_port()) as accounts_url:
            user = auth.users.sign_up("bench@example.dk", "Bench", PASSWORD, account=account.id)
            client = auth.register_client(user, "Bench", [], False, ["ggo.read"], ["client_credentials"])
            token = httpx2.post(f"{auth_url}/token", data={"grant_type": "client_credentials", "scope": "ggo.read"},
                               auth=(client["client_id"], client["client_secret"])).json()["access_token"]  # fmt: skip
            checker = JwksAuthenticator(auth_url, ACCOUNTS, lambda url: httpx2.get(url).json(),
                                        lambda claims: Principal(claims["account"], "owner",
                                                                 frozenset(claims["scope"].split())))  # fmt: skip
            assert checker.authenticate(token) is not None
            check_s = per_call_s(lambda: checker.authenticate(token), args.checks)
            with httpx2.Client(headers={"Authorization": f"Bearer {token}"}) as http:
                assert http.get(f"{accounts_url}/v1/account").status_code == 200
                request_s = per_call_s(lambda: http.get(f"{accounts_url}/v1/account"), args.requests)
            print(f"token check (offline, ES256): {check_s * 1e6:.0f} µs; the cheapest protected request "
                  f"(GET /v1/account over HTTP): {request_s * 1e6:.0f} µs; ratio {check_s / request_s:.3f}")  # fmt: skip

            people = [auth.users.sign_up(f"p{i}@example.dk", f"P{i}", PASSWORD) for i in range(4)]

            def sign_in(n: int) -> None:
                with httpx2.Client(base_url=auth_url) as browser:
                    csrf = re.search(r'name="csrf" value="([^"]+)"', browser.get("/signin").text)
                    assert csrf
                    r = browser.post("/signin", data={"csrf": csrf.group(1), "email": people[n % 4].email,
                                                      "password": PASSWORD})  # fmt: skip
                    assert r.status_code == 303, r.text[:200]

            started = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                list(pool.map(sign_in, range(args.sign_ins)))
            sign_in_rate = args.sign_ins / (time.perf_counter() - started)
            hash_s = per_call_s(lambda: HASHER.hash(PASSWORD), 10)
            p = HASHER
            print(f"sign-ins: {sign_in_rate:.1f}/s over HTTP (2 clients); Argon2id t={p.time_cost} "
                  f"m={p.memory_cost // 1024} MiB p={p.parallelism}: one hash {hash_s * 1000:.0f} ms "
                  f"({1 / hash_s:.1f}/s, the yardstick); ratio {sign_in_rate * hash_s:.2f}; "
                  f"this machine: {os.cpu_count()} cores")  # fmt: skip
        accounts.stop()
        auth.stop()


if __name__ == "__main__":
    main()
