"""The GX Data Docs site: no personal ID or birth date in it, owner-only files, and it renders with no
network at all (its CSS/JS are served from the site itself), checked in Debian's headless Chromium."""

from __future__ import annotations

import datetime as dt
import json
import re
import stat
from pathlib import Path

import pytest
from test_validation import _insert, _new_batch, _row

from tthc.data_docs import CDN_ASSETS, GX_IMAGES, mask_result
from tthc.validation import validate_batch

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
RAW_ID = "087190001234"
BIRTH = dt.date(2016, 9, 17)      # after the issue date below: KS's pair expectation fails on it
ISSUED = dt.date(2015, 4, 3)


def test_mask_result_masks_personal_columns_and_id_like_text():
    single = mask_result({"unexpected_list": [RAW_ID], "partial_unexpected_counts": [{"value": RAW_ID, "count": 1}],
                          "unexpected_index_list": [{"candidate_id": 7, "holder_id_value": RAW_ID}]},
                         {"column": "holder_id_value"})
    assert single["unexpected_list"] == ["*********234"]
    assert single["partial_unexpected_counts"] == [{"value": "*********234", "count": 1}]
    assert single["unexpected_index_list"] == [{"candidate_id": 7, "holder_id_value": "*********234"}]
    pair = mask_result({"unexpected_list": [[ISSUED, BIRTH]], "partial_unexpected_list": [f"({ISSUED}, {BIRTH})"],
                        "unexpected_index_list": [{"candidate_id": 1, "issue_date": ISSUED,
                                                   "holder_birth_date": BIRTH}]},
                       {"column_A": "issue_date", "column_B": "holder_birth_date"})
    assert pair["unexpected_list"] == [[ISSUED.isoformat(), "****-**-**"]]
    assert "2016" not in json.dumps(pair, default=str)
    text = mask_result({"unexpected_list": [f'["holder_id: {RAW_ID[:3]} {RAW_ID[3:7]} {RAW_ID[7:]} bad"]']},
                       {"column": "clean_problems"})
    assert RAW_ID[3:9] not in text["unexpected_list"][0] and "234" in text["unexpected_list"][0]


@pytest.fixture(scope="module")
def site(make_database, tmp_path_factory):
    """A validated batch whose failing rows carry a raw ID (in clean_problems) and a birth date
    (KS: issued before the holder was born), and the Data Docs site built for it."""

    url = make_database("docs", migrated=True)
    batch_id = _new_batch(url)
    _insert(url, [
        _row(batch_id, "ok"),
        _row(batch_id, "raw-id-in-problem", clean_problems=json.dumps([f"holder_id: {RAW_ID} looks wrong"])),
        _row(batch_id, "born-after-issue", issue_date=ISSUED, holder_birth_date=BIRTH, holder_id_value=RAW_ID),
    ])
    docs = tmp_path_factory.mktemp("site") / "data_docs"
    outcome = validate_batch(url, batch_id, data_docs_dir=docs)
    assert not outcome.suites["KS"] and not outcome.suites["common"]
    return {"docs": docs, "batch_id": batch_id, "index": outcome.data_docs_index}


def _pages(docs: Path) -> list[Path]:
    return sorted(docs.rglob("*.html"))


def test_site_holds_no_personal_id_or_birth_date(site):
    docs = site["docs"]
    texts = {p: p.read_text(encoding="utf-8") for p in docs.rglob("*") if p.is_file() and p.suffix in (".html", ".json")}
    ks = [t for p, t in texts.items() if "/validations/KS/" in p.as_posix() and p.suffix == ".html"]
    assert ks and all("holder_birth_date" in t for t in ks)     # the failing pair expectation is shown …
    common = [t for p, t in texts.items() if "/validations/common/" in p.as_posix() and p.suffix == ".html"]
    assert common and any("*********234" in t for t in common)  # … and the masked ID in the problem text
    birth_forms = {BIRTH.isoformat(), BIRTH.strftime("%d/%m/%Y"), "2016-09-17T00:00:00", "Sep 17, 2016"}
    for path, text in texts.items():
        assert RAW_ID not in text and RAW_ID[3:] not in text, path
        assert not any(b in text for b in birth_forms), path


def test_site_is_readable_by_its_owner_only(site):
    docs = site["docs"]
    assert stat.S_IMODE(docs.stat().st_mode) == 0o700
    for path in docs.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


def test_pages_name_no_cdn(site):
    cdn_hosts = {re.match(r"https://[^/]+", u).group(0) for u in CDN_ASSETS} | {GX_IMAGES.rstrip("/")}
    for page in _pages(site["docs"]):
        text = page.read_text(encoding="utf-8")
        loaded = re.findall(r"""(?:src|href)=["']([^"']+)["']""", text)
        assert not [u for u in loaded if any(u.startswith(h) for h in cdn_hosts)], page
        assert not any(h in text for h in cdn_hosts), page


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.mark.parametrize("which", ["index", "validation"])
def test_pages_render_offline_in_chromium(site, browser, which):
    docs = site["docs"]
    path = site["index"] if which == "index" else next((docs / "validations" / "KS").rglob("*.html"))
    ctx = browser.new_context()
    refused, loaded = [], []

    def only_files(route):
        if route.request.url.startswith("file://"):
            loaded.append(route.request.url)
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    ctx.route("**/*", only_files)
    page = ctx.new_page()
    page.goto(path.as_uri(), wait_until="load")
    assert refused == [], f"requests outside the site: {refused}"
    # Bootstrap's stylesheet is applied (the browser default is a serif font), jQuery and
    # bootstrap-table ran, Font Awesome's font loaded from the site.
    assert "apple-system" in page.evaluate("getComputedStyle(document.body).fontFamily")
    assert page.evaluate("typeof window.jQuery === 'function' && typeof jQuery.fn.bootstrapTable === 'function'")
    assert any("/static/vendor/" in u for u in loaded)
    if which == "index":
        assert page.locator(":text-is('KS'):visible").count() >= 1
        assert page.get_by_text("Showing 1 to 3 of 3 rows").is_visible()   # written by bootstrap-table
    else:
        assert page.locator(":text('holder_birth_date'):visible").count() >= 1
        page.evaluate("document.fonts.ready")
        assert page.evaluate("document.fonts.check('900 16px \"Font Awesome 6 Free\"')")
    ctx.close()
