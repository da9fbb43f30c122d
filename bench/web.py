"""The web app's dashboard for a year of hourly data, in a real browser (Debian's Chromium). An
account holds a year of hourly production and consumption and a GGO for every hour (8,760 points
in each of the chart's series); the authorization server, the account service and the web app run
in this process, each on a real port; the browser signs in through the code flow. Prints:
- the time from opening the dashboard to its chart drawn, and the yardstick: the same browser
  fetching the same three API answers through the web app, without drawing anything;
- the bytes the dashboard's load sent (compressed, as on the wire) against the JSON it carried;
- zooming: a year to a day and back, to the next frame drawn.

    .venv/bin/python bench/web.py [--runs 5]
"""

import argparse
import hashlib
import statistics
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright
from sqlalchemy import insert

from harness.soak import free_port, serving
from origin.accounts import db, wallets
from origin.accounts import service as accounts_service
from origin.accounts.custody import LocalKek
from origin.auth import service as auth_service
from origin.protocol import note
from origin.web import app as web

HOUR_S = 3600
PASSWORD = "correct horse battery"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-sync"]


def address(*parts: object) -> str:
    return "62fe8a" + hashlib.sha256(repr(parts).encode()).hexdigest()


def year_of_data(svc: accounts_service.Service, account: str, end_s: int) -> None:
    """Hourly production and consumption, and a GGO issued for each produced hour."""
    hours = range(end_s - 8760 * HOUR_S, end_s, HOUR_S)
    rows = [{"address": address(kind, h), "account": account, "meter": meter, "begin_s": h, "end_s": h + HOUR_S,
             "sector": "DK1", "type": kind, "amount_wh": amount(h), "retired_wh": 0, "seq": 1}
            for h in hours for meter, kind, amount in ((0, "PRODUCTION", lambda h: 1000 + h % 86400 // 36),
                                                       (1, "CONSUMPTION", lambda h: 1500 + h % 7200 // 9))]  # fmt: skip
    ggos = [{"address": address("ggo", h), "account": account, "origin": address("PRODUCTION", h), "begin_s": h,
             "end_s": h + HOUR_S, "amount_wh": 1000 + h % 86400 // 36, "sector": "DK1", "tech_type": "T010000",
             "fuel_type": "F01040100", "source": "issued", "key_path": "1'/0'/1", "state": "available", "seq": 1}
            for h in hours]  # fmt: skip
    with svc.engine.begin() as conn:
        conn.execute(insert(db.measurements), rows)
        conn.execute(insert(db.ggos), ggos)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        auth_port, accounts_port, web_port = free_port(), free_port(), free_port()
        auth_url, web_url = f"http://127.0.0.1:{auth_port}", f"http://127.0.0.1:{web_port}"
        auth_service.init(tmp / "auth", issuer=auth_url)
        auth = auth_service.Service(tmp / "auth")
        kek = tmp / "kek.hex"
        kek.write_text(LocalKek.generate_hex())
        accounts_service.init(tmp / "accounts", ledger_url="http://127.0.0.1:9", datahub_url="http://127.0.0.1:9",
                              kek=kek, auth_issuer=auth_url)  # fmt: skip
        accounts = accounts_service.Service(tmp / "accounts", kek=kek)
        end_s = int(time.time()) // HOUR_S * HOUR_S
        account = wallets.create(accounts.engine, accounts.kek, "Bench", 0)
        year_of_data(accounts, account.id, end_s)
        user = auth.users.sign_up("bench@example.dk", "Bench", PASSWORD, account=account.id)
        operator = auth.users.sign_up("ops@example.dk", "Ops", PASSWORD)
        client = auth.register_client(operator, "Origin web app", [f"{web_url}/callback"], False, web.SCOPE.split(),
                                      ["authorization_code", "refresh_token"])  # fmt: skip
        auth.consent(user.id, client["client_id"], web.SCOPE)
        with serving(auth.app(), auth_port), serving(accounts.app(), accounts_port) as accounts_url:
            config = web.Config(public_url=web_url, auth_issuer=auth_url, client_id=client["client_id"],
                                client_secret=client["client_secret"], accounts_url=accounts_url,
                                datahub_url="http://127.0.0.1:9", ledger_url="http://127.0.0.1:9",
                                log_key=str(note.Signer.generate("bench").verifier), vendor=web.VENDOR)  # fmt: skip
            with serving(web.create_web_app(config), web_port), sync_playwright() as p:
                measure(p, web_url, args.runs)
        accounts.stop()
        auth.stop()


def measure(p, web_url: str, runs: int) -> None:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{web_url}/login")
    page.fill("input[name=email]", "bench@example.dk")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector(".chart[data-ready] canvas", timeout=120_000)
    state = page.context.storage_state()  # the session: each run in a fresh profile, its cache empty
    chart_ms, data_ms, wire, carried = [], [], [], []
    for _ in range(runs):
        page.context.close()
        page = browser.new_context(viewport={"width": 1280, "height": 900}, storage_state=state).new_page()
        started = time.perf_counter()
        page.goto(f"{web_url}/")
        page.wait_for_selector(".chart[data-ready] canvas", timeout=120_000)
        chart_ms.append((time.perf_counter() - started) * 1000)
        on_wire, decoded = page.evaluate("""() => performance.getEntriesByType('navigation')
            .concat(performance.getEntriesByType('resource'))
            .reduce(([w, d], e) => [w + e.transferSize, d + e.decodedBodySize], [0, 0])""")
        wire.append(on_wire)
        carried.append(decoded)
        data_ms.append(
            page.evaluate("""async () => {
            const end = Math.floor(Date.now() / 3.6e6) * 3600, begin = end - 365 * 86400;
            const iso = (s) => new Date(s * 1000).toISOString().replace(/\\.\\d{3}Z$/, 'Z');
            const q = (r) => `?begin=${iso(begin)}&end=${iso(end)}&resolution=${r}`;
            const t = performance.now();
            await Promise.all(['v1/account', 'v1/production' + q('hour'), 'v1/matching' + q('hour')]
                .map((p) => fetch('api/accounts/' + p).then((r) => r.text())));
            return performance.now() - t; }""")
        )
    zoom_ms = page.evaluate("""async () => {
        const frame = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
        const click = async (name) => { const t = performance.now();
            [...document.querySelectorAll('.zoom button')].find((b) => b.textContent === name).click();
            await frame(); return performance.now() - t; };
        return [await click('Day'), await click('Year'), await click('Week'), await click('Year')]; }""")
    browser.close()
    chart, data = statistics.median(chart_ms), statistics.median(data_ms)
    print(f"dashboard, a year of hourly data (8,760 points x 5 series): first chart drawn {chart:.0f} ms "
          f"(median of {runs}); yardstick, the same three API answers fetched in the page: {data:.0f} ms; "
          f"ratio {chart / data:.2f}")  # fmt: skip
    print(f"bytes sent for the dashboard, a first visit (page, script, style, chart library, data, with headers): "
          f"{statistics.median(wire) / 1024:.0f} KiB on the wire, {statistics.median(carried) / 1024:.0f} KiB of bodies "
          f"once decompressed "
          f"(ratio {statistics.median(wire) / statistics.median(carried):.2f})")  # fmt: skip
    print(
        f"zoom to the next frame drawn: year to day {zoom_ms[0]:.1f} ms, day to year {zoom_ms[1]:.1f} ms, "
        f"year to week {zoom_ms[2]:.1f} ms, week to year {zoom_ms[3]:.1f} ms (a frame is 16.7 ms at 60 Hz)"
    )


if __name__ == "__main__":
    main()
