"""What the browser tests share: the platform's URLs and sign-ins, axe's checks, screenshots."""

import json
from pathlib import Path

from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"  # kept by each run; docs/web.md shows a copy
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"


class Platform:
    def __init__(self, data: Path, port: int, auth_port: int):
        self.data, self.url, self.auth_url = data, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{auth_port}"
        self.app = f"{self.url}/app/"

    def sign_in_of(self, who: str) -> dict[str, str]:
        return json.loads((self.data / "demo-keys.json").read_text())["sign_ins"][who]


def accessible(page: Page) -> None:
    """axe-core's checks (WCAG 2.1 A and AA) on the page as it is: no violation at all."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("""async () => (await axe.run(document, {runOnly: {type: 'tag',
        values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})).violations
        .map(v => `${v.id} (${v.impact}): ${v.help}; ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | ')}`)""")
    assert found == [], f"{page.url}: {found}"


def shot(page: Page, name: str) -> None:
    """A screenshot of the page, kept by the test run (docs/screenshots/ holds a copy for the docs)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def consent(page: Page) -> None:
    """Answer the authorization server's consent page, if it asks."""
    allow = page.get_by_role("button", name="Allow")
    page.wait_for_load_state()
    if "/authorize" in page.url and allow.count():
        shot(page, "consent")
        accessible(page)
        allow.click()


def sign_in(page: Page, platform: Platform, who: str) -> None:
    """Through the web app's Sign in: the authorization server's page, its consent, back."""
    known = platform.sign_in_of(who)
    page.goto(platform.app)
    page.get_by_role("link", name="Sign in").click()
    page.fill("input[name=email]", known["email"])
    page.fill("input[name=password]", known["password"])
    page.get_by_role("button", name="Sign in").click()
    consent(page)
    page.locator("main .headline").wait_for()  # the dashboard, loaded


def go(page: Page, name: str) -> None:
    """A page of the app by its navigation link, loaded."""
    page.get_by_role("navigation").get_by_role("link", name=name, exact=True).click()
    page.locator("main h1").wait_for()
    page.wait_for_function("!document.querySelector('main .loading')")


def outcome(form) -> str:
    """What a form's submission came to: its one-line answer, success or refusal."""
    said = form.locator("xpath=..").locator(".ok, .error")
    said.wait_for()
    return said.inner_text()
