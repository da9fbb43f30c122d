"""The authorization server's pages: plain HTML forms that work without JavaScript, with a
label for every field, landmarks, and one-line errors. Every value shown is escaped."""

from html import escape

from origin.auth.oauth import SCOPES

STYLE = """
body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a;line-height:1.5}
label{display:block;margin-top:.8rem;font-weight:600}
input,textarea,select{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box;border:1px solid #555}
button{margin-top:1rem;padding:.6rem 1.2rem;font-size:1rem;background:#0b5d1e;color:#fff;border:0;cursor:pointer}
button.secondary{background:#555}
.error{background:#fde8e8;border-left:4px solid #a00;padding:.5rem;color:#700}
.notice{background:#e8f4fd;border-left:4px solid #036;padding:.5rem}
code{background:#eee;padding:.1rem .3rem;word-break:break-all}
nav a{margin-right:1rem}
"""


def page(title: str, body: str, *, signed_in: bool = False, error: str | None = None) -> str:
    nav = (
        '<nav aria-label="Account"><a href="/">Home</a><a href="/apps">Connected apps</a><a href="/clients">'
        'Your OAuth clients</a><a href="/password">Password</a></nav>'
        if signed_in
        else '<nav aria-label="Account"><a href="/signin">Sign in</a><a href="/signup">Sign up</a></nav>'
    )
    shown = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
        f'content="width=device-width, initial-scale=1"><title>{escape(title)} · Origin</title>'
        f"<style>{STYLE}</style></head><body><header>{nav}</header><main><h1>{escape(title)}</h1>{shown}"
        f"{body}</main></body></html>"
    )


def hidden(name: str, value: str) -> str:
    return f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'


def field(name: str, label: str, kind: str = "text", value: str = "", autocomplete: str = "") -> str:
    extra = f' autocomplete="{autocomplete}"' if autocomplete else ""
    return (
        f'<label for="{name}">{escape(label)}</label><input id="{name}" name="{name}" type="{kind}" '
        f'value="{escape(value)}" required{extra}>'
    )


def sign_in(csrf: str, next_url: str, email: str = "") -> str:
    return (
        f'<form method="post" action="/signin">{hidden("csrf", csrf)}{hidden("next", next_url)}'
        f"{field('email', 'E-mail address', 'email', email, 'username')}"
        f"{field('password', 'Password', 'password', '', 'current-password')}"
        f'<button type="submit">Sign in</button></form><p><a href="/reset">Forgot your password?</a> · '
        f'<a href="/signup?next={escape(next_url)}">Make an account</a></p>'
    )


def sign_up(csrf: str, next_url: str, email: str = "", name: str = "") -> str:
    return (
        f'<form method="post" action="/signup">{hidden("csrf", csrf)}{hidden("next", next_url)}'
        f"{field('name', 'Your name or your company’s', 'text', name, 'name')}"
        f"{field('email', 'E-mail address', 'email', email, 'username')}"
        f"{field('password', 'Password (10 characters or more)', 'password', '', 'new-password')}"
        f'<button type="submit">Make the account</button></form>'
    )


def consent(csrf: str, client_name: str, redirect_uri: str, scopes: list[str], action: str) -> str:
    listed = "".join(f"<li><strong>{escape(SCOPES[s][0])}</strong> <code>{escape(s)}</code></li>" for s in scopes)
    return (
        f"<p><strong>{escape(client_name)}</strong> asks to:</p><ul>{listed}</ul>"
        f"<p>It will be sent back to <code>{escape(redirect_uri)}</code>. You can revoke its access at any time "
        f'under <a href="/apps">Connected apps</a>.</p>'
        f'<form method="post" action="{escape(action)}">{hidden("csrf", csrf)}'
        f'<button type="submit" name="decision" value="allow">Allow</button> '
        f'<button type="submit" name="decision" value="deny" class="secondary">Deny</button></form>'
    )
