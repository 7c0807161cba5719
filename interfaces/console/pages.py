"""HTML building blocks for the console (escaped by construction, no template engine)."""

from __future__ import annotations

from html import escape

STYLE = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3rem;
text-align:left;font-size:.9rem}.added{color:#176b2c}.removed{color:#a31515}.modified{color:#7a5b00}
form{margin:1rem 0}input[type=text],input[type=password]{padding:.3rem;width:20rem}
button{padding:.4rem 1rem;margin-right:.5rem}.note{background:#f4f4f4;padding:.6rem}
.error{background:#fde8e8;padding:.6rem}
"""


def page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)} — Tilde"
        f"</title><style>{STYLE}</style></head><body><h1>{escape(title)}</h1>{body}"
        "</body></html>"
    )


def hidden(name: str, value: str) -> str:
    return f"<input type='hidden' name='{escape(name)}' value='{escape(value)}'>"


def login_form(next_url: str, error: str = "") -> str:
    problem = f"<p class='error' id='error'>{escape(error)}</p>" if error else ""
    return page(
        "Sign in",
        f"""{problem}
<form method='post' action='/console/login'>{hidden("next", next_url)}
<p><label>Username or email<br><input type='text' name='login' id='login'></label></p>
<p><label>Password<br><input type='password' name='password' id='password'></label></p>
<p><button type='submit' id='sign-in'>Sign in</button></p></form>""",
    )


def message(title: str, text: str, kind: str = "note") -> str:
    return page(title, f"<p class='{kind}' id='message'>{escape(text)}</p>")
