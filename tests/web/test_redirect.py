"""Where the browser goes after signing in: a path on this site, never another site."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.support import DEMO_PASSWORD
from web.auth import PRELOGIN_COOKIE
from web.http import safe_next

Client = TestClient[Any, Any]

# Each of these is followed off-site by some browser (a backslash reads as a slash; tab and
# newlines are stripped before parsing; "//host" is another host), or names a scheme.
OFF_SITE = [
    "/\\evil.example",
    "/%5Cevil.example",
    "/%5cevil.example",
    "\\/evil.example",
    "//evil.example",
    "/%2F/evil.example",
    "/%2f%2fevil.example",
    "/%252F/evil.example",  # decoded twice
    "/\t/evil.example",
    "/%09/evil.example",
    "/\n/evil.example",
    "/%0A/evil.example",
    "/\x00",
    "https://evil.example/",
    "HTTPS://evil.example",
    "javascript:alert(1)",
    "evil.example",
    " /evil.example",
    "",
]
SAME_SITE = {
    "/": "/",
    "/sessions?page=2": "/sessions?page=2",
    "/cases/3#ket-luan": "/cases/3#ket-luan",
    "/citizens?q=Nguy%E1%BB%85n": "/citizens?q=Nguy%E1%BB%85n",
    "/citizens?q=Nguyễn Văn": "/citizens?q=Nguy%E1%BB%85n%20V%C4%83n",
    "/login?next=//evil.example": "/login?next=//evil.example",  # checked again there
}


@pytest.mark.parametrize("value", OFF_SITE)
def test_off_site_targets_fall_back_to_home(value: str) -> None:
    assert safe_next(value) == "/"


@pytest.mark.parametrize("value", sorted(SAME_SITE))
def test_same_site_paths_are_kept(value: str) -> None:
    assert safe_next(value) == SAME_SITE[value]


async def _form(client: Client, query: str) -> tuple[str, str]:
    resp = await client.get("/login" + query, allow_redirects=False)
    body = await resp.text()
    assert resp.status == 200, body
    [nxt] = re.findall(r'name="next" value="([^"]*)"', body)
    [token] = re.findall(r'name="prelogin" value="([^"]*)"', body)
    return nxt, token


async def test_login_form_and_submit_never_send_the_browser_off_site(client: Client) -> None:
    # The finding: /login?next=/%5Cevil.example sent the browser to /\evil.example.
    nxt, token = await _form(client, "?next=/%5Cevil.example")
    assert nxt == "/"
    assert client.session.cookie_jar.filter_cookies(client.make_url("/login"))[PRELOGIN_COOKIE]
    form = {"prelogin": token, "next": "/\\evil.example", "username": "officer"}
    resp = await client.post(
        "/login", data={**form, "password": DEMO_PASSWORD}, allow_redirects=False
    )
    assert resp.status == 303, await resp.text()
    assert resp.headers["Location"] == "/"
    # Signed in already, the form redirects at once: the same rule.
    resp = await client.get("/login?next=/%5Cevil.example", allow_redirects=False)
    assert (resp.status, resp.headers["Location"]) == (303, "/")
    resp = await client.get("/login?next=/sessions%3Fpage%3D2", allow_redirects=False)
    assert (resp.status, resp.headers["Location"]) == (303, "/sessions?page=2")


async def test_a_page_link_survives_the_round_trip(client: Client) -> None:
    nxt, token = await _form(client, "?next=/cases%3Fkind%3Ddenunciation")
    assert nxt == "/cases?kind=denunciation"
    form = {"prelogin": token, "next": nxt, "username": "officer", "password": DEMO_PASSWORD}
    resp = await client.post("/login", data=form, allow_redirects=False)
    assert (resp.status, resp.headers["Location"]) == (303, "/cases?kind=denunciation")
