#!/usr/bin/env python3
"""The `$BROWSER` that `sidecar connect` opens in the end-to-end tests: a scripted user who logs in
as `E2E_LOGIN` on the real login and consent pages, then follows the final redirect to the bridge's
loopback port, as a browser would. Each run appends the URL it was given to `E2E_BROWSER_LOG`, so
the tests count logins."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import browser  # noqa: E402


async def main(url: str) -> None:
    with open(os.environ["E2E_BROWSER_LOG"], "a") as log:
        log.write(url + "\n")
    redirect_uri = parse_qs(urlsplit(url).query)["redirect_uri"][0]
    query = await browser.authorize(url, redirect_uri, os.environ["E2E_LOGIN"], os.environ["E2E_PASSWORD"])
    httpx.get(f"{redirect_uri}?{urlencode(query)}", timeout=30).raise_for_status()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
