"""The web app in a real browser, as its people use it, on the whole platform: sign up and
consent; a producer's dashboard with its chart, transfers, an agreement and verification; a
household adding a meter, retiring and seeing its matching score change; revoking the app. Every
page passes axe's WCAG checks, and each is kept as a screenshot for docs/web.md."""

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from browser_world import accessible, consent, go, outcome, shot, sign_in

PAGES = ["GGOs", "Meters", "Transfer and retire", "Agreements", "Verify", "Apps"]


def test_a_new_person_signs_up_consents_and_sees_empty_states(platform, browser_page):
    page = browser_page
    page.goto(platform.app)
    accessible(page)
    shot(page, "welcome")
    page.get_by_role("link", name="Create an account").click()
    page.fill("input[name=email]", "newcomer@example.dk")
    page.fill("input[name=name]", "Newcomer")
    page.fill("input[name=password]", "correct horse battery")
    page.get_by_role("button", name="Make the account").click()
    consent(page)
    page.get_by_role("heading", name="Dashboard").wait_for()
    assert "Signed in as Newcomer" in page.inner_text("header")
    page.locator("main").get_by_text("No hourly data yet").wait_for()
    go(page, "Meters")
    page.locator("main").get_by_text("No meters yet").wait_for()
    assert not page.errors


def test_a_producer_sees_the_chart_transfers_proposes_and_verifies(platform, browser_page):
    page = browser_page
    sign_in(page, platform, "customer-2")  # the household first: its account id, for the producer's transfer
    household = re.search(r"acc_[0-9a-f]{16}", page.inner_text("main")).group(0)
    page.context.clear_cookies()
    sign_in(page, platform, "customer-0")
    page.wait_for_selector(".chart[data-ready] canvas")
    accessible(page)
    shot(page, "dashboard")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.wait_for_timeout(300)  # the chart follows the width
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the screen
    accessible(page)
    shot(page, "dashboard-phone")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("button", name="Day").click()  # zoom in to a day
    for name in PAGES:
        go(page, name)
        accessible(page)
        shot(page, name.lower().replace(" ", "-"))
    go(page, "GGOs")
    page.get_by_role("combobox", name="State").select_option("available")
    page.get_by_role("button", name="Show").click()
    assert outcome(page.locator("main form").first) == "Shown."  # the filtered list, not the one before
    first = page.locator("main table").last.locator("tbody tr").first
    address = first.locator("a").get_attribute("href").split("/")[-1]
    go(page, "Transfer and retire")
    transfer = page.locator("form").first
    transfer.get_by_label("GGO address").fill(address)
    transfer.get_by_label("To (an account id, or a receive xpub)").fill(household)
    transfer.get_by_label("Wh (empty: all of it)").fill("1000")
    transfer.get_by_role("button", name="Transfer").click()
    assert re.fullmatch(r"transfer op_\w+: COMMITTED", outcome(transfer))
    bad = page.locator("form").nth(1)
    bad.get_by_label("GGO address").fill("62fe8a" + "0" * 64)
    bad.get_by_role("button", name="Retire").click()
    assert "\n" not in outcome(bad) and page.locator("main .error").count() == 1  # a one-line refusal
    go(page, "Agreements")
    page.get_by_label("Direction").select_option("send")
    page.get_by_label("Account").fill(household)
    page.get_by_label("How much").select_option("cap")
    page.get_by_label("N", exact=True).fill("500")
    page.get_by_label("From", exact=True).fill("2026-01-01T00:00")
    page.get_by_role("button", name="Propose").click()
    page.locator("main").get_by_text(re.compile(r"Agreement agr_\w+ proposed")).wait_for()
    page.goto(f"{platform.app}#/verify/{address}")
    page.locator("main").get_by_text("Verified:").wait_for()
    assert page.locator("svg.chain rect").count() >= 3  # measurement, issue, split
    accessible(page)
    shot(page, "verify-chain")
    assert not page.errors


def test_a_household_adds_a_meter_retires_accepts_and_revokes_the_app(platform, browser_page):
    page = browser_page
    sign_in(page, platform, "customer-2")
    before = page.locator(".headline").inner_text()
    go(page, "Meters")
    add = page.get_by_role("button", name=re.compile(r"^Add 5713"))
    gsrn = add.first.inner_text().split()[1]
    add.first.click()
    page.get_by_role("button", name=f"Data of {gsrn}").wait_for()  # now among the household's meters
    assert page.get_by_role("button", name=re.compile(r"^Add 5713")).count() == 0
    page.get_by_role("button", name=f"Data of {gsrn}").click()
    page.get_by_role("heading", name=f"The last three days of {gsrn}").wait_for()
    go(page, "Transfer and retire")
    bulk = page.locator("form").nth(2)  # the last day's GGOs, retired as far as its consumption has room
    now = datetime.now(ZoneInfo("Europe/Copenhagen"))
    bulk.get_by_label("From").fill((now - timedelta(days=2)).strftime("%Y-%m-%dT%H:00"))
    bulk.get_by_label("Until").fill(now.strftime("%Y-%m-%dT%H:00"))
    bulk.get_by_role("button", name="Run").click()
    assert re.fullmatch(r"bulk_retire op_\w+: COMMITTED", outcome(bulk))
    go(page, "Dashboard")
    page.locator(".headline").wait_for()
    assert page.locator(".headline").inner_text() != before  # the score moved
    shot(page, "dashboard-household")
    go(page, "Matching")
    accessible(page)
    shot(page, "matching")
    with page.context.expect_page() as opened:
        page.get_by_role("link", name="The printable report").click()
    report = opened.value
    report.wait_for_load_state()
    assert "hour by hour" in report.inner_text("body")
    report.close()
    go(page, "Agreements")
    accept = page.get_by_role("button", name=re.compile(r"^Accept agr_"))
    accept.first.click()
    page.locator("main").get_by_text("ACCEPTED").first.wait_for()
    go(page, "Apps")
    page.get_by_role("link", name="Connected apps").click()
    page.get_by_text("Origin web app").wait_for()
    accessible(page)
    page.get_by_role("button", name="Revoke").first.click()
    page.wait_for_load_state()
    assert "Origin web app" not in page.inner_text("body")
    assert not page.errors
