"""The application in a real browser: Debian's headless Chromium driven by Playwright (pointed at
/usr/bin/chromium; no browser download). An official of one commune logs in, looks up a code (and
a mistyped one), opens the copy, opens the progress page and sees the chart drawn; logged out, the
browser is refused."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import shutil

import pytest

from appkit import PASSWORD, build_site, serve

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="Debian chromium not installed "
                                "(tools/system-deps.sh installs it)")


@pytest.fixture(scope="module")
def site(tmp_path_factory, make_database):
    quarters = (dt.date(2025, 3, 31), dt.date(2025, 6, 30), dt.date(2025, 9, 30), dt.date(2025, 12, 31))
    built = build_site(tmp_path_factory, make_database, "browser", quarters)
    url, unit, code, copy = built["url"], built["unit_a"], built["code_a"], built["copy_path"]
    # Secure cookies on: Chromium accepts them from http://localhost (a trustworthy origin)
    with serve(url, {"TTHC_APP_COOKIE_SECURE": "1"}) as base:
        yield {"base": base.replace("127.0.0.1", "localhost"), "unit": unit, "code": code,
               "sha256": hashlib.sha256(copy.read_bytes()).hexdigest()}
    built["monkeypatch"].undo()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def test_official_in_a_browser(site, browser):
    base, code = site["base"], site["code"]
    ctx = browser.new_context(locale="vi-VN")
    page = ctx.new_page()
    # logged out: every page leads to the login form, the copy is not served
    page.goto(f"{base}/tra-cuu")
    assert "/dang-nhap" in page.url and page.locator("#login-form").is_visible()
    resp = page.goto(f"{base}/ket-qua/{code}/ban-sao")
    assert "/dang-nhap" in page.url and resp.headers["content-type"].startswith("text/html")
    # wrong password, then the right one
    page.fill("input[name=username]", "canbo.pii")
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    assert "Sai tên đăng nhập hoặc mật khẩu" in page.inner_text("#login-error")
    page.fill("input[name=username]", "canbo.pii")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    assert "/dang-nhap" not in page.url
    # lookup: a typo first, then the suggestion
    page.goto(f"{base}/tra-cuu")
    i = code.rfind("-") - 1
    page.fill("#ma", code[:i] + ("7" if code[i] != "7" else "3") + code[i + 1:])
    page.click("#code-form button")
    assert "Mã không hợp lệ" in page.inner_text("#bad-code")
    page.click(f"a.suggestion:has-text('{code}')")
    assert page.inner_text("#result-code") == code
    assert page.inner_text("#status") in ("còn hiệu lực", "hết hiệu lực", "đã thu hồi")
    assert page.inner_text("#copy-kind").startswith("bản quét")
    # the copy, fetched by the page itself with the session cookie
    href = page.get_attribute("#open-copy", "href")
    got = page.evaluate("""async (url) => {
        const r = await fetch(url);
        const buf = await r.arrayBuffer();
        const digest = await crypto.subtle.digest('SHA-256', buf);
        return {status: r.status, type: r.headers.get('content-type'),
                sha: Array.from(new Uint8Array(digest)).map(b => b.toString(16).padStart(2, '0')).join('')};
    }""", href)
    assert got == {"status": 200, "type": "application/pdf", "sha": site["sha256"]}
    # progress: the chart is drawn (target steps and the measured line)
    page.goto(f"{base}/thong-ke?as_of=2025-12-31")
    chart = page.locator("#chart svg")
    box = chart.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 150
    assert page.locator("#chart svg g[id^='target-'] path").count() >= 1
    assert page.locator("#chart svg g[id^='actual-'] path").count() >= 1
    assert site["unit"] in page.content()
    page.goto(f"{base}/thong-ke?as_of=2025-12-31&unit={site['unit']}")
    assert page.locator("#progress tr").count() >= 2 and page.locator("#chart svg").count() == 1
    # logout, then refused again
    page.goto(f"{base}/tra-cuu")
    page.click("header button[type=submit]")
    page.goto(f"{base}/ket-qua/{code}")
    assert "/dang-nhap" in page.url
    again = page.evaluate("async (url) => (await fetch(url, {redirect: 'manual'})).type", href)
    assert again == "opaqueredirect"
    ctx.close()


def test_analyst_sees_a_pseudonym_and_no_copy(site, browser):
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(f"{site['base']}/dang-nhap")
    page.fill("input[name=username]", "phantich")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{site['base']}/ket-qua/{site['code']}")
    assert page.inner_text("#result-code") == site["code"]
    holder = page.inner_text("#holder")                      # an analyst: the random reference only
    assert re.fullmatch(r"mã tham chiếu [0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", holder.strip()), holder
    resp = page.goto(f"{site['base']}/ket-qua/{site['code']}/ban-sao")
    assert resp.status == 403 and "Không có quyền truy cập" in page.inner_text("h1")
    ctx.close()
