"""The change feed (/api/v1/changes) never misses nor repeats a row while loads run: transactions
commit out of id order, and the feed serves only rows of transactions older than every running one.
Proved twice: with two hand-held transactions committing in reverse order, and by paging a real
`tthc serve` while the ingestion pipeline loads (interval by interval) and another writer revokes
results in slow transactions."""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from zoneinfo import ZoneInfo

import httpx
import psycopg2
import pytest

from appkit import load_results, make_accounts, serve
from tthc_dev.demo_data import generate
from tthc.reference.load import load_reference
from tthc.warehouse.db import fetch_all
from tthc.warehouse.migrate import migrate
from tthc.warehouse.server import psycopg_kwargs

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
CATCH_UP_SECONDS = 240  # transactions of other databases on the same server hold the horizon back too


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    out = tmp_path_factory.mktemp("feed") / "data"
    generate(out, seed=9, size=600, scans=12)
    mp.setenv("TTHC_DEMO_DATA_DIR", str(out))
    yield out
    mp.undo()


def fresh(make_database):
    url = make_database("feed")
    migrate(url)
    load_reference(url)
    with psycopg2.connect(**psycopg_kwargs(url)) as conn, conn.cursor() as cur:
        cur.execute("SELECT unit_key FROM core.admin_unit WHERE level = 'commune' LIMIT 1")
        unit = cur.fetchone()[0]
    return url, make_accounts(url, unit)["feed"]


def page(base, key, since, limit=25):
    r = httpx.get(f"{base}/api/v1/changes", params={"since": since, "limit": limit}, headers={"X-API-Key": key},
                  timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def drain(base, key, since, seen, until=None):
    """Page to the end; with `until`, keep paging until it returns True (or time runs out)."""
    deadline = time.time() + CATCH_UP_SECONDS
    while True:
        body = page(base, key, since)
        seen += body["items"]
        since = body["next_cursor"]
        if not body["has_more"] and (until is None or until(seen)):
            return since
        if time.time() > deadline:
            raise AssertionError(f"feed did not catch up in {CATCH_UP_SECONDS} s")
        if not body["has_more"]:
            time.sleep(0.2)


def test_out_of_order_commits_are_neither_missed_nor_repeated(data, make_database):
    url, key = fresh(make_database)
    load_results(url)
    codes = [c for (c,) in fetch_all(url, "SELECT result_code FROM core.result ORDER BY result_id LIMIT 2")]
    with serve(url) as base:
        seen: list = []
        total = fetch_all(url, "SELECT count(*) FROM core.result")[0][0]
        end = drain(base, key, "0", seen, until=lambda s: len(s) >= total)
        assert sorted(i["code"] for i in seen) == sorted(c for (c,) in fetch_all(url, "SELECT result_code FROM core.result"))
        a = psycopg2.connect(**psycopg_kwargs(url))
        b = psycopg2.connect(**psycopg_kwargs(url))
        try:
            with a.cursor() as ca, b.cursor() as cb:
                # A starts first (lower transaction id) and commits last
                ca.execute("UPDATE core.result SET revoked_on = DATE '2026-01-02', updated_at = now() "
                           "WHERE result_code = %s", (codes[0],))
                cb.execute("UPDATE core.result SET revoked_on = DATE '2026-01-03', updated_at = now() "
                           "WHERE result_code = %s", (codes[1],))
                b.commit()
                for _ in range(3):
                    body = page(base, key, end)
                    assert body["items"] == [] and body["next_cursor"] == end, \
                        "B's committed row must wait behind A, still running with a smaller id"
                    time.sleep(0.2)
                a.commit()
        finally:
            a.close()
            b.close()
        after: list = []
        drain(base, key, end, after, until=lambda s: len(s) >= 2)
        assert [(i["code"], i["revoked_on"]) for i in after] == [(codes[0], "2026-01-02"), (codes[1], "2026-01-03")]


def test_paging_while_a_load_runs_sees_every_change_once(data, make_database):
    url, key = fresh(make_database)
    errors: list = []
    loading = threading.Event()
    loading.set()

    def load():
        try:
            for year in range(1990, 2027):   # one batch per year: many commits while the client pages
                load_results(url, (dt.datetime(year, 1, 1, tzinfo=TZ), dt.datetime(year + 1, 1, 1, tzinfo=TZ)))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            loading.clear()

    def revoke():
        """Slow transactions that change loaded results and commit after later ones."""
        rnd = random.Random(3)
        conn = psycopg2.connect(**psycopg_kwargs(url))
        try:
            while loading.is_set():
                with conn, conn.cursor() as cur:
                    cur.execute("""UPDATE core.result SET revoked_on = current_date, updated_at = now()
                                   WHERE result_id = (SELECT result_id FROM core.result WHERE revoked_on IS NULL
                                                      AND result_code IS NOT NULL ORDER BY random() LIMIT 1)""")
                    time.sleep(rnd.uniform(0.05, 0.6))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            conn.close()

    with serve(url) as base:
        threads = [threading.Thread(target=load), threading.Thread(target=revoke)]
        for t in threads:
            t.start()
        seen: list = []
        since = "0"
        pages_during_load = 0
        while loading.is_set():
            body = page(base, key, since, limit=20)
            seen += body["items"]
            since = body["next_cursor"]
            pages_during_load += 1
            if not body["has_more"]:
                time.sleep(0.05)
        for t in threads:
            t.join()
        assert not errors, errors
        state = {c: (str(r) if r else None, u) for c, r, u in fetch_all(url, """
            SELECT result_code, revoked_on, updated_at FROM core.result WHERE result_code IS NOT NULL""")}

        def caught_up(items):
            # Every result at its final version: the feed holds a change back while any older
            # transaction on the server (another test's, too) is still open.
            last = {}
            for i in items:
                last[i["code"]] = (i["revoked_on"], i["updated_at"])
            return set(last) == set(state) and all(
                last[c][0] == state[c][0]
                and dt.datetime.fromisoformat(last[c][1].replace("Z", "+00:00")) == state[c][1] for c in state)

        drain(base, key, since, seen, until=caught_up)
    assert pages_during_load > 5 and len(state) > 300
    cursors = [i["cursor"] for i in seen]
    assert len(cursors) == len(set(cursors)), "an item was served twice"
    keys = [tuple(map(int, c.split("-"))) for c in cursors]
    assert keys == sorted(keys), "the feed went backwards"
    versions = [(i["code"], i["revoked_on"], i["updated_at"]) for i in seen]
    assert len(versions) == len(set(versions)), "the same version of a result was served twice"
    last = {}
    for i in seen:
        last[i["code"]] = (i["revoked_on"], i["updated_at"])
    assert set(last) == set(state), "a result was missed"
    mismatched = [c for c in state if last[c][0] != state[c][0]
                  or dt.datetime.fromisoformat(last[c][1].replace("Z", "+00:00")) != state[c][1]]
    assert mismatched == [], "the last version served differs from the warehouse"
    assert fetch_all(url, "SELECT count(*) FROM core.result WHERE revoked_on = current_date")[0][0] > 0
