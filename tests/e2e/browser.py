"""A minimal user agent for the OAuth redirect dance: follows redirects, fills in the login form of
the upstream OpenID Connect provider and approves consent pages, by submitting the real HTML forms
the servers render (no shortcut into either server).

It stops at the first redirect to the client's redirect URI and returns that URL's query; without
a redirect URI (the device verification of RFC 8628 section 3.3), at the first page without a form.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

MAX_STEPS = 25
DENY_WORDS = ("abort", "deny", "cancel", "reject")


class _Forms(HTMLParser):
    """Collects every <form> with its inputs and submit buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": a.get("method", "get").lower(),
                               "fields": {}, "buttons": []})
        elif self.forms and tag in ("input", "button"):
            kind = a.get("type", "submit" if tag == "button" else "text").lower()
            if kind == "submit":
                self.forms[-1]["buttons"].append((a.get("name", ""), a.get("value", "")))
            elif a.get("name"):
                self.forms[-1]["fields"][a["name"]] = a.get("value", "")


def _approving(form: dict) -> bool:
    text = (form["action"] + " ".join(n + v for n, v in form["buttons"])).lower()
    return not any(w in text for w in DENY_WORDS)


class LoginFailed(AssertionError):
    pass


async def authorize(url: str, redirect_uri: str | None, login: str, password: str,
                    approve: bool = True) -> dict[str, str]:
    """Drive `url` (the client's authorization request) to the redirect back to `redirect_uri`,
    or with `redirect_uri=None` to the final page, returned as `{"status": ..., "page": ...}`."""
    async with httpx.AsyncClient(follow_redirects=False, timeout=30) as ua:
        method, data = "GET", None
        for _ in range(MAX_STEPS):
            resp = await ua.request(method, url, data=data)
            if resp.is_redirect:
                url = urljoin(url, resp.headers["location"])
                method, data = "GET", None
                if redirect_uri and url.startswith(redirect_uri):
                    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
                continue
            if redirect_uri is None and "<form" not in resp.text:
                return {"status": str(resp.status_code), "page": resp.text}
            if resp.status_code >= 400 and "<form" not in resp.text:
                raise LoginFailed(f"{resp.status_code} at {url}: {resp.text[:300]}")
            parser = _Forms()
            parser.feed(resp.text)
            forms = [f for f in parser.forms if _approving(f) == approve] or parser.forms
            if not forms:
                raise LoginFailed(f"no form and no redirect at {url} ({resp.status_code})")
            form = forms[0]
            fields = dict(form["fields"])
            if "password" in fields or "login" in fields:
                fields.update({"login": login, "password": password})
            approve_buttons = [b for b in form["buttons"] if b[0] and (_approving({"action": "", "buttons": [b]}) == approve)]
            if approve_buttons:
                fields[approve_buttons[0][0]] = approve_buttons[0][1]
            url = urljoin(str(resp.url), form["action"] or str(resp.url))
            method, data = ("POST", fields) if form["method"] == "post" else ("GET", None)
            if method == "GET":
                url = str(httpx.URL(url, params=fields))
        raise LoginFailed(f"no redirect to {redirect_uri} after {MAX_STEPS} steps (last: {url})")
