"""Re-identification from what an analyst can read is impossible.

A login in tthc_analyst reads every column it has SELECT on, in every schema, and every mart
function it may call. No value may equal (or contain) the raw ID of a holder in the test data or
any function of it an attacker could compute: sha256/md5/sha1 of it, HMAC-SHA256 under the
published development secret or under the configured secret (as if it leaked), with or without the
`type:` prefix. No masked value shows more than the last 3 digits. And the brute force that once
recovered most CCCDs (every candidate of a known prefix, hashed, looked up in what the analyst
reads) finds nothing; the same brute force against core's matching key (read as the owner) does
find the ID, so the attack itself works."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import re
import uuid

import psycopg2
import pytest
from sqlalchemy.engine import make_url

from tthc.warehouse.db import fetch_all

PUBLISHED_SECRET = "dev-only-not-secret"
MASKED_RUN = re.compile(r"\*+[\s.\-]?(\d+)")  # the project masks with "*"


def _keyed_functions(id_type: str, value: str) -> set[str]:
    """What an attacker could compute from one ID, as hex (lower and upper case) and as text."""
    configured = os.environ["TTHC_HOLDER_KEY_SECRET"]
    out = {value}
    for msg in (value, f"{id_type}:{value}", f"{id_type}{value}"):
        data = msg.encode()
        for algo in ("sha256", "md5", "sha1", "sha512"):
            out.add(hashlib.new(algo, data).hexdigest())
        for secret in (PUBLISHED_SECRET, configured, ""):
            out.add(hmac.new(secret.encode(), data, hashlib.sha256).hexdigest())
            out.add(hmac.new(secret.encode(), data, hashlib.md5).hexdigest())
    return out | {h.upper() for h in out}


@pytest.fixture(scope="module")
def populated(tmp_path_factory, make_database):
    """A warehouse loaded the way production loads it: a legacy source (with junk rows that go to
    quarantine), dossiers that name their holders, and quarterly snapshots."""
    from appkit import load_results

    from tthc_dev.demo_data import generate
    from tthc.progress.loaders import load_dossiers
    from tthc.progress.snapshot import take_snapshot

    mp = pytest.MonkeyPatch()
    data = tmp_path_factory.mktemp("reid") / "data"
    generate(data, seed=11, size=300, scans=12)
    mp.setenv("TTHC_DEMO_DATA_DIR", str(data))
    url = make_database("reid", migrated=True)
    load_results(url)
    load_dossiers(next(data.rglob("dossiers.csv")), url)
    for quarter_end in (dt.date(2024, 12, 31), dt.date(2025, 12, 31)):
        take_snapshot(url, "quarter", quarter_end)
    yield url
    mp.undo()


@pytest.fixture(scope="module")
def analyst_url(populated):
    """A real login, member of tthc_analyst, as an analyst gets it."""
    name = f"reid_{uuid.uuid4().hex[:8]}"
    password = uuid.uuid4().hex
    conn = psycopg2.connect(make_url(populated).set(drivername="postgresql").render_as_string(hide_password=False))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE ROLE {name} LOGIN PASSWORD %s IN ROLE tthc_analyst", (password,))
    try:
        yield make_url(populated).set(username=name, password=password)
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP OWNED BY {name}")
            cur.execute(f"DROP ROLE {name}")
        conn.close()


@pytest.fixture(scope="module")
def personal_ids(populated) -> dict[str, str]:
    """Every holder ID in the test data (id value -> type), from core and from the raw rows."""
    ids = dict((v, t) for t, v in fetch_all(populated, "SELECT id_type, id_value FROM core.holder_identity"))
    for (payload,) in fetch_all(populated, "SELECT payload::text FROM raw.source_row"):
        for value in re.findall(r"(?<!\d)(\d{9}|\d{12})(?!\d)", payload):
            ids.setdefault(value, "cccd" if len(value) == 12 else "cmnd")
    assert len(ids) > 100
    return ids


def _analyst_values(url) -> tuple[list[str], list[str]]:
    """(every value the analyst can read, as text; the relations and functions read)."""
    conn = psycopg2.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
    values, read = [], []
    try:
        with conn.cursor() as cur:
            cur.execute("""
                SELECT c.table_schema::text, c.table_name::text, array_agg(c.column_name::text ORDER BY c.ordinal_position)
                FROM information_schema.columns c
                WHERE c.table_schema NOT IN ('pg_catalog', 'information_schema')
                  AND has_column_privilege(current_user,
                        format('%I.%I', c.table_schema, c.table_name), c.column_name, 'SELECT')
                GROUP BY 1, 2 ORDER BY 1, 2""")
            relations = cur.fetchall()
            for schema, table, columns in relations:
                cols = ", ".join(f'"{c}"::text' for c in columns)
                cur.execute(f'SELECT {cols} FROM "{schema}"."{table}"')
                values.extend(v for row in cur.fetchall() for v in row if v is not None)
                read.append(f"{schema}.{table}")
            # Set-returning mart functions of one date argument, as of two dates.
            cur.execute("""
                SELECT p.oid::regproc::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname = 'mart' AND p.proretset AND p.pronargs = 1
                  AND p.proargtypes[0] = 'date'::regtype AND has_function_privilege(p.oid, 'EXECUTE')""")
            for (fn,) in cur.fetchall():
                for day in ("2024-12-31", dt.date.today().isoformat()):
                    cur.execute(f"SELECT t::text FROM {fn}(date %s) t", (day,))
                    values.extend(v for (v,) in cur.fetchall())
                read.append(fn)
            # Statistics the planner keeps are readable for what the role may read.
            cur.execute("SELECT most_common_vals::text, histogram_bounds::text FROM pg_stats "
                        "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")
            values.extend(v for row in cur.fetchall() for v in row if v is not None)
    finally:
        conn.close()
    return values, read


@pytest.fixture(scope="module")
def readable(analyst_url):
    values, read = _analyst_values(analyst_url)
    assert "mart.result" in read and "mart.review_queue" in read
    assert not [r for r in read if r.split(".")[0] in ("core", "raw", "staging", "ops", "app")], read
    return values


def test_analyst_sees_a_random_holder_ref_only(populated, readable):
    refs = fetch_all(populated, "SELECT holder_ref::text FROM core.holder")
    shown = {v for v in readable if re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", v)}
    assert shown and shown <= {r for (r,) in refs}
    assert not any(re.fullmatch(r"[0-9a-fA-F]{32,128}", v) for v in readable), "a hash-like value is readable"


def test_no_readable_value_is_a_function_of_a_personal_id(personal_ids, readable):
    tokens = set()
    for value, id_type in personal_ids.items():
        tokens |= _keyed_functions(id_type, value)
    exact = [v for v in readable if v.strip() in tokens]
    assert not exact, exact[:5]
    # Containment too (a hash or an ID inside a longer text): every token is 9+ characters.
    text = "\x00".join(readable)
    contained = [t for t in tokens if t in text]
    assert not contained, contained[:5]


def test_masked_values_show_three_digits_at_most(readable):
    shown = [v for v in readable for m in MASKED_RUN.finditer(v) if len(m.group(1)) > 3]
    assert not shown, shown[:5]


def _brute_force(prefix: str, targets: set[str], secrets: list[str]) -> set[str]:
    """Every CCCD with this 6-digit prefix (10^6 candidates), keyed and unkeyed, looked up in targets."""
    found = set()
    for secret in secrets:
        key = secret.encode()
        for n in range(1_000_000):
            cand = f"{prefix}{n:06d}"
            if hmac.digest(key, b"cccd:" + cand.encode(), "sha256").hex() in targets:
                found.add(cand)
    for n in range(1_000_000):
        cand = f"{prefix}{n:06d}"
        if hashlib.sha256(cand.encode()).hexdigest() in targets:
            found.add(cand)
    return found


def test_brute_force_of_a_known_prefix_finds_nothing(populated, personal_ids, readable):
    cccd = sorted(v for v, t in personal_ids.items() if t == "cccd" and len(v) == 12)
    victim = fetch_all(populated, """SELECT i.id_value FROM core.holder_identity i
                                     WHERE i.id_type = 'cccd' ORDER BY i.id_value LIMIT 1""")[0][0]
    assert victim in cccd
    secrets = [PUBLISHED_SECRET, os.environ["TTHC_HOLDER_KEY_SECRET"]]
    # The attack works: against core's matching key (the owner's view) it recovers the victim.
    match_keys = {k for (k,) in fetch_all(populated, "SELECT match_key FROM core.holder")}
    assert victim in _brute_force(victim[:6], match_keys, secrets[1:])
    # Against everything the analyst reads, it finds no one.
    targets = {v.strip().lower() for v in readable}
    assert _brute_force(victim[:6], targets, secrets) == set()
