"""The lookup/statistics/sharing application against a real `tthc serve` (uvicorn) and PostgreSQL:
deny by default, the role × endpoint matrix (cross-unit reads, expired and forged tokens, revoked
and expired keys), injection attempts in every filter, PII masking and auditing, the copy's hash
check, the least-privilege database role, throttling, CSRF and cookie flags."""

from __future__ import annotations

import hashlib
import json
import uuid

import httpx
import jwt
import psycopg2
import pytest

from appkit import PASSWORD, build_site, login, serve
from tthc.app.security import issue_token
from tthc.codes import CodeFormat
from tthc.warehouse.db import fetch_all, transaction
from tthc.warehouse.server import psycopg_kwargs


def _slow_ok(fn):
    """httpx's call with a timeout a loaded 2-core CI machine can meet (the province-wide progress query)."""
    return lambda *args, **kwargs: fn(*args, **{"timeout": 60, **kwargs})


http_get, http_post, http_request = _slow_ok(httpx.get), _slow_ok(httpx.post), _slow_ok(httpx.request)

SECRET = "test-secret-" + "x" * 40


@pytest.fixture(scope="module")
def s3():
    """A real S3 endpoint over HTTP (moto's server): the archive of some copies."""
    import boto3
    from moto.server import ThreadedMotoServer

    from appkit import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    from conftest import s3_connection_json

    env = {"AIRFLOW_CONN_TTHC_S3": s3_connection_json(f"http://127.0.0.1:{port}")}
    client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_bucket(Bucket="archive")
    yield client, env
    server.stop()


@pytest.fixture(scope="module")
def env(tmp_path_factory, make_database, s3):
    site = build_site(tmp_path_factory, make_database, "app")
    url, code_a = site["url"], site["code_a"]
    holder = fetch_all(url, """SELECT h.display_name, i.id_value FROM core.result r JOIN core.holder h USING (holder_id)
                               JOIN core.holder_identity i USING (holder_id) WHERE r.result_code = %s""", (code_a,))[0]
    with serve(url, {"TTHC_APP_SECRET": SECRET, "TTHC_APP_LOGIN_MAX_FAILURES": "1000", **s3[1]}) as base:
        tokens = {u: login(base, u) for u in ("canbo.a", "canbo.pii", "phantich", "admin")}
        yield {**site, "base": base, "tokens": tokens, "holder": holder}
    site["monkeypatch"].undo()


def account_id(url, username):
    return fetch_all(url, "SELECT account_id, (extract(epoch FROM updated_at) * 1000000)::bigint FROM app.account "
                          "WHERE username = %s", (username,))[0]


def credentials(env) -> dict[str, dict]:
    aid, ver = account_id(env["url"], "canbo.a")
    expired = issue_token(SECRET, aid, ver, minutes=-1)
    forged = issue_token("not-the-server-secret-" + "y" * 30, aid, ver, minutes=30)
    unsigned = jwt.encode({"sub": str(aid), "ver": ver, "iat": 0, "exp": 4102444800}, key=None, algorithm="none")
    bearer = lambda t: {"Authorization": f"Bearer {t}"}  # noqa: E731
    return {
        "anonymous": {}, "expired_token": bearer(expired), "forged_token": bearer(forged), "alg_none": bearer(unsigned),
        "revoked_key": {"X-API-Key": env["keys"]["revoked"]}, "expired_key": {"X-API-Key": env["keys"]["expired"]},
        "garbage_key": {"X-API-Key": "tthc_000000000000_" + "A" * 43},
        "official": bearer(env["tokens"]["canbo.a"]), "official_pii": bearer(env["tokens"]["canbo.pii"]),
        "analyst": bearer(env["tokens"]["phantich"]), "admin": bearer(env["tokens"]["admin"]),
        "feed_key": {"X-API-Key": env["keys"]["feed"]}, "lookup_key": {"Authorization": f"Bearer {env['keys']['lookup']}"},
    }


ENDPOINTS = {
    "result_own": "/api/v1/results/{code_a}",
    "result_other_unit": "/api/v1/results/{code_b}",
    "copy": "/api/v1/results/{code_a}/copy",
    "search": "/api/v1/results?procedure=KS",
    "changes": "/api/v1/changes",
    "progress": "/api/v1/progress?as_of=2025-12-31",
    "snapshots": "/api/v1/snapshots",
    "units": "/api/v1/units?level=district",
    "admin_accounts": "/api/v1/admin/accounts",
    "admin_audit": "/api/v1/admin/audit",
    "openapi": "/api/v1/openapi.json",
    "page_lookup": "/tra-cuu",
    "page_stats": "/thong-ke",
}
UNAUTH = ("anonymous", "expired_token", "forged_token", "alg_none", "revoked_key", "expired_key", "garbage_key")
#                  own  other copy search chg  prog snap units adm  aud  oapi lookup stats
EXPECTED = {
    "official":     (200, 404, 403, 200, 403, 200, 200, 200, 403, 403, 200, 200, 200),
    "official_pii": (200, 404, 200, 200, 403, 200, 200, 200, 403, 403, 200, 200, 200),
    "analyst":      (200, 200, 403, 200, 403, 200, 200, 200, 403, 403, 200, 200, 200),
    "admin":        (403, 403, 403, 403, 403, 200, 200, 200, 200, 200, 200, 200, 200),
    "feed_key":     (200, 200, 403, 200, 200, 200, 200, 200, 403, 403, 200, 403, 403),
    "lookup_key":   (200, 200, 403, 200, 403, 403, 403, 200, 403, 403, 200, 403, 403),
}


def test_role_endpoint_matrix(env):
    creds = credentials(env)
    got, want = {}, {}
    for who, headers in creds.items():
        for i, (name, path) in enumerate(ENDPOINTS.items()):
            r = http_get(env["base"] + path.format(**env), headers=headers, follow_redirects=False)
            got[who, name] = r.status_code
            if who in UNAUTH:
                want[who, name] = 303 if name.startswith("page_") else 401
                if r.status_code == 303:
                    assert "/dang-nhap" in r.headers["location"]
            else:
                want[who, name] = EXPECTED[who][i]
            if r.status_code >= 400 and name not in ("page_lookup", "page_stats"):
                assert r.headers["content-type"].startswith(("application/json", "text/html"))
                assert r.json()["detail"], (who, name)
    assert {k: v for k, v in got.items() if v != want[k]} == {}


def test_every_route_denies_without_credentials(env):
    from tthc.app.main import create_app

    for route in create_app().routes:
        for method in sorted(getattr(route, "methods", set()) - {"HEAD"}):
            path = route.path.replace("{code}", env["code_a"]).replace("{prefix}", "0123456789ab")
            r = http_request(method, env["base"] + path, follow_redirects=False)
            if path == "/api/v1/health":
                assert r.status_code == 200
            elif path in ("/dang-nhap", "/"):
                assert r.status_code in (200, 303, 422)   # the login form itself / redirect to it
                assert env["code_a"] not in r.text
            else:
                assert r.status_code in (401, 303, 403, 422), (method, path, r.status_code)
                assert env["holder"][0] not in r.text and env["code_a"] not in r.text.replace(path, "")


def test_scoping_and_pii_in_responses(env):
    base, creds = env["base"], credentials(env)
    name, pid = env["holder"]
    own = f"{base}/api/v1/results/{env['code_a']}"
    official = http_get(own, headers=creds["official"]).json()
    assert official["holder"]["masked"] and name not in json.dumps(official, ensure_ascii=False)
    assert pid not in json.dumps(official) and official["holder"]["ids"][0]["value"].endswith(pid[-3:])
    clear = http_get(own, headers=creds["official_pii"]).json()
    assert clear["holder"]["name"] == name and clear["holder"]["ids"][0]["value"] == pid
    for who in ("analyst", "feed_key", "lookup_key"):
        text = http_get(own, headers=creds[who]).text
        assert name not in text and pid not in text and '"name":null' not in text.replace(" ", "")
        holder = json.loads(text)["holder"]
        assert holder.keys() == {"ref", "kind"} and uuid.UUID(holder["ref"])  # a random reference, not a hash
    # an official's search only ever returns its own unit's results, whatever the filter asks
    items = []
    cursor = None
    while True:
        page = http_get(f"{base}/api/v1/results", headers=creds["official"],
                         params={"limit": 7, **({"cursor": cursor} if cursor else {})}).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    in_unit = fetch_all(env["url"], "SELECT count(*) FROM core.result WHERE issuing_unit_key = %s", (env["unit_a"],))[0][0]
    assert len(items) == in_unit > 0 and {i["issuing_unit"]["key"] for i in items} == {env["unit_a"]}
    other = http_get(f"{base}/api/v1/results", headers=creds["official"], params={"unit": env["unit_b"]}).json()
    assert other["items"] == []
    progress = http_get(f"{base}/api/v1/progress", headers=creds["official"], params={"as_of": "2025-12-31"}).json()
    assert progress["items"] and {i["unit_key"] for i in progress["items"]} == {env["unit_a"]}


INJECTIONS = ["' OR '1'='1", "1; DROP TABLE core.result; --", "KS' UNION SELECT id_value FROM core.holder_identity --",
              "pre2025/commune/1' OR 1=1 --", "%' OR ''='", "\\x00", "1 OR 1=1", "../../etc/passwd"]


def test_injection_attempts_in_every_filter(env):
    base, creds = env["base"], credentials(env)
    before = fetch_all(env["url"], "SELECT count(*), md5(string_agg(result_code, ',' ORDER BY result_code)) FROM core.result")
    pid = env["holder"][1]
    targets = [("/api/v1/results", p) for p in ("procedure", "unit", "year", "book", "number", "status", "cursor", "limit")]
    targets += [("/api/v1/changes", p) for p in ("since", "limit")]
    targets += [("/api/v1/progress", p) for p in ("as_of", "plan", "view", "unit", "parent")]
    targets += [("/api/v1/snapshots", p) for p in ("plan", "view", "unit", "period_kind")]
    targets += [("/api/v1/units", p) for p in ("era", "level", "parent")]
    targets += [("/tra-cuu", p) for p in ("ma", "procedure", "unit", "year", "book", "number")]
    for path, param in targets:
        for value in INJECTIONS:
            for who in ("official", "feed_key"):
                r = http_get(base + path, params={param: value}, headers=creds[who])
                assert r.status_code in (200, 403, 404, 422), (path, param, value, r.status_code)
                assert pid not in r.text
                if r.status_code == 200 and path == "/api/v1/results":
                    assert r.json()["items"] == []        # a literal that matches nothing
                if r.status_code == 200 and who == "official" and path.startswith("/api/v1/results"):
                    assert all(i["issuing_unit"]["key"] == env["unit_a"] for i in r.json()["items"])
    for value in INJECTIONS:
        r = http_get(f"{base}/api/v1/results/{value}", headers=creds["official"])
        assert r.status_code in (404, 422) and pid not in r.text
    after = fetch_all(env["url"], "SELECT count(*), md5(string_agg(result_code, ',' ORDER BY result_code)) FROM core.result")
    assert after == before


def test_mistyped_code_gets_its_likely_intended_code(env):
    base, creds = env["base"], credentials(env)
    code = env["code_a"]
    i = code.rfind("-") - 1                         # the serial's last digit
    typo = code[:i] + ("7" if code[i] != "7" else "3") + code[i + 1:]
    r = http_get(f"{base}/api/v1/results/{typo}", headers=creds["official"])
    assert r.status_code == 422 and r.json()["detail"] == "mã không hợp lệ" and code in r.json()["suggestions"]
    # the suggestion never reveals a code of another unit
    j = env["code_b"].rfind("-") - 1
    typo_b = env["code_b"][:j] + ("7" if env["code_b"][j] != "7" else "3") + env["code_b"][j + 1:]
    assert env["code_b"] not in http_get(f"{base}/api/v1/results/{typo_b}", headers=creds["official"]).text
    page = http_get(f"{base}/tra-cuu", params={"ma": typo.lower()}, headers=creds["official"])
    assert page.status_code == 422 and "Mã không hợp lệ" in page.text and code in page.text
    agency, type_, year = code.split("-")[:3]
    unknown = CodeFormat().render(agency, type_, int(year), 999999)        # well formed, never allocated
    r = http_get(f"{base}/api/v1/results/{unknown}", headers=creds["official"])
    assert r.status_code == 404 and unknown in r.json()["detail"]
    bad = http_get(f"{base}/api/v1/results", params={"year": "abc"}, headers=creds["official"])
    assert bad.status_code == 422 and "year" in bad.json()["detail"]


def test_pii_reads_are_audited_and_the_audit_is_append_only(env):
    base, creds, url = env["base"], credentials(env), env["url"]
    code = env["code_a"]
    n0 = fetch_all(url, "SELECT count(*) FROM app.audit_log WHERE object_id = %s", (code,))[0][0]
    http_get(f"{base}/api/v1/results/{code}", headers={**creds["official_pii"], "User-Agent": "audit-test"})
    http_get(f"{base}/api/v1/results/{code}", headers=creds["official"])      # masked: no PII left
    http_get(f"{base}/api/v1/results/{code}", headers=creds["analyst"])
    rows = fetch_all(url, """SELECT username, role, via, client_addr, user_agent, action FROM app.audit_log
                             WHERE object_id = %s ORDER BY audit_id""", (code,))
    assert len(rows) == n0 + 1
    assert rows[-1] == ("canbo.pii", "official", "token", "127.0.0.1", "audit-test", "read_pii")
    with psycopg2.connect(**psycopg_kwargs(url)) as conn, conn.cursor() as cur:
        for role in ("tthc_app", "tthc_analyst"):
            for stmt in ("UPDATE app.audit_log SET username = 'x'", "DELETE FROM app.audit_log",
                         "TRUNCATE app.audit_log"):
                cur.execute("SAVEPOINT s")
                cur.execute(f"SET LOCAL ROLE {role}")
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cur.execute(stmt)
                cur.execute("ROLLBACK TO SAVEPOINT s")
        cur.execute("SAVEPOINT s")
        with pytest.raises(psycopg2.errors.RaiseException):     # even the owner, by mistake
            cur.execute("DELETE FROM app.audit_log")
        cur.execute("ROLLBACK TO SAVEPOINT s")
        cur.execute("SET LOCAL ROLE tthc_analyst")
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("SELECT * FROM app.account")


def test_app_connects_as_its_least_privilege_role(env):
    rows = fetch_all(env["url"], """SELECT a.usename, r.rolsuper, r.rolcreaterole, pg_has_role(a.usename, 'tthc_app', 'MEMBER')
                                   FROM pg_stat_activity a JOIN pg_roles r ON r.rolname = a.usename
                                   WHERE a.application_name = 'tthc-app' AND a.datname = current_database()""")
    assert rows and set(rows) == {("tthc_app_login", False, False, True)}
    with psycopg2.connect(**psycopg_kwargs(env["url"])) as conn, conn.cursor() as cur:
        cur.execute("SET ROLE tthc_app")
        for stmt in ("UPDATE core.result SET revoked_on = current_date", "SELECT payload FROM ops.quarantine",
                     "SELECT page_text FROM ops.review_queue", "SELECT payload FROM raw.source_row",
                     "INSERT INTO core.result_source VALUES (1, 'x', 'x', 'x', NULL, 'x')"):
            cur.execute("SAVEPOINT s")
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(stmt)
            cur.execute("ROLLBACK TO SAVEPOINT s")
    from tthc.app.db import Database, UnsafeDatabaseRole

    with pytest.raises(UnsafeDatabaseRole):
        Database(env["url"], 1)             # the superuser of the tests is refused


def test_copy_is_hash_checked_audited_and_never_served_when_altered(env):
    base, creds, url, code = env["base"], credentials(env), env["url"], env["code_a"]
    r = http_get(f"{base}/api/v1/results/{code}/copy", headers=creds["official_pii"])
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert hashlib.sha256(r.content).hexdigest() == r.headers["x-content-sha256"]
    assert r.headers["x-signature-status"] == "unsigned"
    path = env["copy_path"]
    original = path.read_bytes()
    try:
        path.write_bytes(original + b"%% altered in the archive\n")
        r = http_get(f"{base}/api/v1/results/{code}/copy", headers=creds["official_pii"])
        assert r.status_code == 409 and r.headers["content-type"].startswith("application/json")
        assert b"%PDF" not in r.content and "SHA-256" in r.json()["detail"]
        page = http_get(f"{base}/ket-qua/{code}/ban-sao", cookies={"tthc_session": env["tokens"]["canbo.pii"]})
        assert page.status_code == 409 and "không khớp mã băm" in page.text and b"%PDF" not in page.content
    finally:
        path.write_bytes(original)
    assert fetch_all(url, "SELECT count(*) FROM ops.fixity_check WHERE NOT ok")[0][0] == 2
    assert fetch_all(url, "SELECT count(*) FROM ops.alert_log WHERE fingerprint LIKE 'copy-hash:%%'")[0][0] >= 1
    actions = [a for (a,) in fetch_all(url, "SELECT action FROM app.audit_log WHERE object_id = %s AND action LIKE 'read_copy' "
                                            "OR action = 'copy_refused' ORDER BY audit_id", (code,))]
    assert actions.count("copy_refused") == 2 and "read_copy" in actions


def test_copy_archived_in_s3_is_checked_the_same_way(env, s3):
    from appkit import pdf_bytes

    client, _ = s3
    base, url, creds = env["base"], env["url"], credentials(env)
    code = fetch_all(url, """SELECT result_code FROM core.result WHERE issuing_unit_key = %s AND result_code <> %s
                             ORDER BY result_code LIMIT 1""", (env["unit_a"], env["code_a"]))[0][0]
    data = pdf_bytes(f"Ban sao S3 {code}")
    sha = hashlib.sha256(data).hexdigest()
    client.put_object(Bucket="archive", Key=f"sha256/{sha}.pdf", Body=data)
    with transaction(url) as cur:
        cur.execute("""INSERT INTO core.document (sha256, archive_uri, media_type, page_count, result_id, link_rule,
                                                  linked_at)
                       SELECT %s, %s, 'application/pdf', 1, result_id, 'natural_key', now()
                       FROM core.result WHERE result_code = %s""", (sha, f"s3://archive/sha256/{sha}.pdf", code))
    r = http_get(f"{base}/api/v1/results/{code}/copy", headers=creds["official_pii"])
    assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == sha
    client.put_object(Bucket="archive", Key=f"sha256/{sha}.pdf", Body=data[:-10])     # altered in the bucket
    r = http_get(f"{base}/api/v1/results/{code}/copy", headers=creds["official_pii"])
    assert r.status_code == 409 and b"%PDF" not in r.content
    client.delete_object(Bucket="archive", Key=f"sha256/{sha}.pdf")                   # gone from the bucket
    r = http_get(f"{base}/api/v1/results/{code}/copy", headers=creds["official_pii"])
    assert r.status_code == 409 and "không đọc được" in r.json()["detail"]


def test_revocation_and_disabling_take_effect_at_once(env):
    base, url = env["base"], env["url"]
    admin = {"Authorization": f"Bearer {env['tokens']['admin']}"}
    made = http_post(f"{base}/api/v1/admin/keys", headers=admin,
                      data={"account": "motcua", "name": "short-lived", "scopes": "results:read"})
    assert made.status_code == 201
    key = made.json()["key"]
    assert http_get(f"{base}/api/v1/results/{env['code_a']}", headers={"X-API-Key": key}).status_code == 200
    assert httpx.delete(f"{base}/api/v1/admin/keys/{made.json()['prefix']}", headers=admin).status_code == 200
    assert http_get(f"{base}/api/v1/results/{env['code_a']}", headers={"X-API-Key": key}).status_code == 401
    assert fetch_all(url, "SELECT secret_sha256 <> %s FROM app.api_key WHERE prefix = %s",
                     (key, made.json()["prefix"]))[0][0]            # only the hash is stored
    r = http_post(f"{base}/api/v1/admin/accounts", headers=admin, data={
        "username": "canbo.tam", "role": "official", "display_name": "Tạm", "password": PASSWORD,
        "units": env["unit_b"]})
    assert r.status_code == 201
    token = login(base, "canbo.tam")
    assert http_get(f"{base}/api/v1/results/{env['code_b']}", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    with transaction(url) as cur:
        cur.execute("UPDATE app.account SET disabled_at = now(), updated_at = now() WHERE username = 'canbo.tam'")
    assert http_get(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def set_cookie(response, name):
    from http.cookies import SimpleCookie

    for header in response.headers.get_list("set-cookie"):
        jar = SimpleCookie(header)
        if name in jar:
            return jar[name].value
    return None


def test_throttling_csrf_and_cookie_flags(env):
    with transaction(env["url"]) as cur:          # a fresh window: earlier tests' bad keys count per address
        cur.execute("DELETE FROM app.auth_failure")
    with serve(env["url"], {"TTHC_APP_LOGIN_MAX_FAILURES": "3", "TTHC_APP_COOKIE_SECURE": "1"}) as base:
        with httpx.Client(base_url=base) as c:
            form = c.get("/dang-nhap")
            csrf = set_cookie(form, "tthc_csrf")
            assert csrf and f'value="{csrf}"' in form.text
            c.cookies.clear()       # Secure cookies: httpx keeps them off plain http, so send them by hand
            assert c.post("/dang-nhap", data={"username": "admin", "password": PASSWORD, "csrf": "nope"},
                          cookies={"tthc_csrf": csrf}).status_code == 403
            ok = c.post("/dang-nhap", data={"username": "admin", "password": PASSWORD, "csrf": csrf},
                        cookies={"tthc_csrf": csrf})
            assert ok.status_code == 303
            for response, name in ((form, "tthc_csrf"), (ok, "tthc_session")):
                header = next(h for h in response.headers.get_list("set-cookie") if h.startswith(name + "=")).lower()
                assert "httponly" in header and "samesite=strict" in header and "secure" in header, header
            session = {"tthc_session": set_cookie(ok, "tthc_session")}
            # a state-changing API call on the session cookie needs the CSRF header
            no = http_post(base + "/api/v1/admin/keys", cookies=session,
                            data={"account": "motcua", "name": "x", "scopes": "results:read"})
            assert no.status_code == 403
            yes = http_post(base + "/api/v1/admin/keys", cookies={**session, "tthc_csrf": csrf},
                             headers={"X-CSRF-Token": csrf}, data={"account": "motcua", "name": "x",
                                                                   "scopes": "results:read"})
            assert yes.status_code == 201
        for _ in range(3):
            assert http_post(base + "/api/v1/token", data={"username": "canbo.a", "password": "wrong-password"}
                              ).status_code == 401
        r = http_post(base + "/api/v1/token", data={"username": "canbo.a", "password": PASSWORD})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0      # even the right password, for now
        assert http_post(base + "/api/v1/token", data={"username": "canbo.pii", "password": PASSWORD}).status_code == 200
        for _ in range(12):                                                     # bad keys: per client address
            http_get(base + "/api/v1/units", headers={"X-API-Key": "tthc_000000000000_" + "B" * 43})
        assert http_get(base + "/api/v1/units", headers={"X-API-Key": env["keys"]["feed"]}).status_code == 429
    assert fetch_all(env["url"], "SELECT count(*) FROM app.auth_failure WHERE bucket = 'user:canbo.a'")[0][0] >= 3


def test_pages_render_in_vietnamese(env):
    base = env["base"]
    cookies = {"tthc_session": env["tokens"]["canbo.pii"]}
    page = http_get(f"{base}/ket-qua/{env['code_a']}", cookies=cookies)
    assert page.status_code == 200 and "Tình trạng hôm nay" in page.text and env["holder"][0] in page.text
    stats = http_get(f"{base}/thong-ke", params={"as_of": "2025-12-31"}, cookies=cookies)
    assert stats.status_code == 200 and "<svg" in stats.text and env["unit_a"] in stats.text
    successor = http_get(f"{base}/thong-ke", params={"as_of": "2025-12-31", "view": "successor"},
                          cookies={"tthc_session": env["tokens"]["phantich"]})
    assert successor.status_code == 200 and "post2025/" in successor.text
    snapshots = http_get(f"{base}/thong-ke/anh-chup", params={"unit": env["unit_a"]}, cookies=cookies)
    assert snapshots.status_code == 200 and "31/12/2025" in snapshots.text
    for fmt, magic in (("csv", "\ufeff".encode()), ("xlsx", b"PK")):
        r = http_get(f"{base}/thong-ke/xuat", params={"bang": "progress", "dinh_dang": fmt, "as_of": "2025-12-31"},
                      cookies=cookies)
        assert r.status_code == 200 and r.content.startswith(magic)
    queue = http_get(f"{base}/thong-ke/hang-doi", params={"unit": env["unit_a"]}, cookies=cookies)
    assert queue.status_code == 200 and "thứ tự ưu tiên" in queue.text
    assert http_get(f"{base}/van-hanh", cookies=cookies).status_code == 200
    assert http_get(f"{base}/api/v1/docs", cookies=cookies).status_code == 200


def test_admin_command_line_and_security_headers(env):
    import os
    import subprocess
    import sys

    base, url = env["base"], env["url"]
    run = lambda *a: subprocess.run([sys.executable, "-m", "tthc.app.admin", "--warehouse-url", url, *a],  # noqa: E731
                                    capture_output=True, text=True, timeout=60,
                                    env={**os.environ, "NEW_PW": PASSWORD})
    out = run("create-key", "motcua", "--name", "cli", "--scopes", "results:read")
    assert out.returncode == 0, out.stderr
    made = json.loads(out.stdout)
    assert http_get(f"{base}/api/v1/results/{env['code_a']}", headers={"X-API-Key": made["key"]}).status_code == 200
    assert run("revoke-key", made["prefix"]).returncode == 0
    assert http_get(f"{base}/api/v1/results/{env['code_a']}", headers={"X-API-Key": made["key"]}).status_code == 401
    bad = run("create-key", "motcua", "--name", "x", "--scopes", "everything")
    assert bad.returncode == 1 and "không hợp lệ" in bad.stderr
    assert run("add-user", "canbo.cli", "--role", "official", "--name", "CLI", "--units", env["unit_b"],
               "--password-env", "NEW_PW").returncode == 0
    assert login(base, "canbo.cli")
    nowhere = run("add-user", "canbo.x", "--role", "official", "--name", "X", "--units", "pre2025/commune/1",
                  "--password-env", "NEW_PW")
    assert nowhere.returncode == 1 and "đơn vị không tồn tại" in nowhere.stderr
    r = http_get(f"{base}/dang-nhap")
    assert "frame-ancestors 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert http_get(f"{base}/api/v1/health").headers["cache-control"] == "no-store"


def test_cached_key_is_refused_on_the_next_request_after_revocation(env):
    """A key in the process's cache (no database read per request) stops working on the very next
    request when it is revoked, expires or its account is disabled, by whichever process: the
    database's NOTIFY empties the cache. Repeated, so that a race between the change and the
    notification would show."""
    from tthc.app.admin import create_account, create_api_key

    base, url, code = env["base"], env["url"], env["code_a"]
    with transaction(url) as cur:
        create_account(cur, "cache.client", "integration", "Cache client", None)
    changes = ("UPDATE app.api_key SET revoked_at = now() WHERE prefix = %(p)s",
               "UPDATE app.api_key SET expires_at = now() - interval '1 second' WHERE prefix = %(p)s",
               "UPDATE app.account SET disabled_at = now() WHERE username = 'cache.client'")
    conn = psycopg2.connect(**psycopg_kwargs(url))
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            for round_ in range(9):
                with transaction(url) as cur:
                    cur.execute("UPDATE app.account SET disabled_at = NULL WHERE username = 'cache.client'")
                    key, prefix = create_api_key(cur, "cache.client", f"cache {round_}", ["results:read"])
                headers = {"X-API-Key": key}
                for _ in range(3):                      # the first verifies and caches, the others hit the cache
                    assert client.get(f"/api/v1/results/{code}", headers=headers).status_code == 200
                with conn, conn.cursor() as cur:
                    cur.execute(changes[round_ % 3], {"p": prefix})
                r = client.get(f"/api/v1/results/{code}", headers=headers)
                assert r.status_code == 401, (changes[round_ % 3], r.status_code, r.text)
    finally:
        conn.close()


def test_event_loop_read_proves_a_cached_key_in_the_same_pipeline(env):
    """The event loop's reads (server-side binding, prepared statements) send a cached key's
    app.assert_key with the statement, in one pipeline: a withdrawn key fails the read and the
    statement does not run (a division by zero here would surface instead); the connection stays
    usable, and the statement, prepared after repeated runs, still answers."""
    import asyncio

    from tthc.app.auth import _ASSERT_KEY
    from tthc.app.db import AsyncReads, CredentialWithdrawn, pending_check, provision_login
    from tthc.app.admin import create_account, create_api_key

    url = env["url"]
    with transaction(url) as cur:
        create_account(cur, "pipeline.client", "integration", "Pipeline client", None)
        _, prefix = create_api_key(cur, "pipeline.client", "pipeline", ["results:read"])
    (key_id, scopes, ver), = fetch_all(url, """SELECT k.key_id, k.scopes, (extract(epoch FROM a.updated_at) * 1000000)::bigint
                                               FROM app.api_key k JOIN app.account a USING (account_id)
                                               WHERE k.prefix = %s""", (prefix,))
    reads = AsyncReads(psycopg_kwargs(provision_login(url)), 2)

    async def run():
        try:
            for i in range(8):                                   # past psycopg's prepare threshold
                pending_check.set((_ASSERT_KEY, (key_id, scopes, ver)))
                async with reads.read() as cur:
                    await cur.execute("SELECT %(i)s::int + 1", {"i": i}, prepare=True)
                    assert (await cur.fetchone()) == (i + 1,)
            for withdrawn in ((key_id, scopes, ver + 1), (key_id, scopes + ["pii:read"], ver), (-1, scopes, ver)):
                pending_check.set((_ASSERT_KEY, withdrawn))
                with pytest.raises(CredentialWithdrawn):
                    async with reads.read() as cur:
                        await cur.execute("SELECT 1 / (%(zero)s::int)", {"zero": 0}, prepare=True)
            pending_check.set(None)
            async with reads.read() as cur:
                await cur.execute("SELECT %(i)s::int + 1", {"i": 41}, prepare=True)
                assert (await cur.fetchone()) == (42,)
        finally:
            pending_check.set(None)
            await reads.close()

    asyncio.run(run())


def test_key_cache_forgets_on_notify_and_refuses_a_read_older_than_a_change(env):
    from tthc.app.auth import KeyCache
    from tthc.app.db import provision_login

    import time

    cache = KeyCache(psycopg_kwargs(provision_login(env["url"])), ttl=30)
    try:
        deadline = time.monotonic() + 20
        while not cache.live and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cache.live
        row = (1, "x", "x", "integration", [], [], 0, None, None)
        cache.put("aaaaaaaaaaaa", cache.generation(), "h" * 64, row, ["results:read"], 1, None)
        assert cache.get("aaaaaaaaaaaa", "h" * 64) is not None
        assert cache.get("aaaaaaaaaaaa", "g" * 64) is None              # a wrong secret is no hit
        started = cache.generation()
        with transaction(env["url"]) as cur:                             # any change to a key notifies
            cur.execute("UPDATE app.api_key SET scopes = scopes WHERE false")
        deadline = time.monotonic() + 10
        while cache.generation() == started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert cache.generation() > started
        cache.put("aaaaaaaaaaaa", started, "h" * 64, row, ["results:read"], 1, None)   # read before the change
        assert cache.get("aaaaaaaaaaaa", "h" * 64) is None
        with transaction(env["url"]) as cur:                             # last_used_at alone does not
            before = cache.generation()
            cur.execute("UPDATE app.api_key SET last_used_at = now()")
        time.sleep(0.5)
        assert cache.generation() == before
    finally:
        cache.close()


def _listeners(port: int) -> set[int]:
    import psutil

    return {c.pid for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN and c.laddr.port == port
            and c.pid is not None}


def _gone(pids, seconds: float) -> bool:
    import time

    import psutil

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("stop", ["SIGTERM to the supervisor", "Ctrl-C (SIGINT to every process)",
                                  "SIGKILL to the supervisor", "SIGKILL to a worker"])
def test_workers_listen_each_on_their_own_socket_and_stop_together(env, stop):
    """`tthc serve --workers 2` (Linux): each worker its own SO_REUSEPORT listening socket, so a burst of
    32 connections opened at once reaches both (one shared socket gave all 32 to one worker); and
    however the server is stopped, no worker is left behind. A worker dying on its own stops the
    server with status 1."""
    import http.client
    import os
    import signal
    import time

    import psutil

    from appkit import serve_process

    # the module's other tests leave failed attempts from 127.0.0.1 (the throttle's address bucket)
    with serve_process(env["url"], {"TTHC_APP_LOGIN_MAX_FAILURES": "1000"}, workers=2) as (base, proc):
        port = int(base.rsplit(":", 1)[1])
        deadline = time.monotonic() + 60
        while len(_listeners(port)) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        children = {c.pid for c in psutil.Process(proc.pid).children()}
        clients = [http.client.HTTPConnection("127.0.0.1", port, timeout=60) for _ in range(32)]
        for c in clients:
            c.connect()
        for c in clients:
            c.request("GET", f"/api/v1/results/{env['code_a']}", headers={"X-API-Key": env["keys"]["lookup"]})
        for c in clients:
            r = c.getresponse()
            assert r.status == 200 and env["code_a"] in r.read().decode()
        mine = {c.sock.getsockname()[1] for c in clients}
        served = {w: sum(1 for s in psutil.Process(w).net_connections("tcp") if s.raddr and s.raddr.port in mine)
                  for w in children}
        assert sum(served.values()) == 32 and len([n for n in served.values() if n]) == 2, served
        workers = _listeners(port)   # each worker its own listening socket, the supervisor none
        assert workers == {w for w, n in served.items() if n}, (workers, served)
        for c in clients:
            c.close()

        if stop == "SIGTERM to the supervisor":
            proc.send_signal(signal.SIGTERM)
        elif stop.startswith("Ctrl-C"):   # what a terminal does: the whole foreground process group
            for pid in (proc.pid, *workers):
                os.kill(pid, signal.SIGINT)
        elif stop == "SIGKILL to the supervisor":
            proc.kill()
        else:
            os.kill(min(workers), signal.SIGKILL)
        code = proc.wait(40)
        assert _gone(workers, 10), f"workers outlived the supervisor ({stop})"
        assert _listeners(port) == set()
        assert code == {"SIGTERM to the supervisor": 0, "SIGKILL to the supervisor": -signal.SIGKILL,
                        "SIGKILL to a worker": 1}.get(stop, 0), code
