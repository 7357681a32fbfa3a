"""Accounts and API keys from the command line (`python -m tthc.app.admin --help`), and the demo
accounts `make demo` creates. Passwords and keys are printed once and never stored in clear."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import secrets
import sys

from tthc.app.security import ROLES, SCOPES, hash_password, new_api_key


def create_account(cur, username: str, role: str, display_name: str, password: str | None,
                   units: list[str] = (), scopes: list[str] = ()) -> None:
    if role not in ROLES:
        raise ValueError(f"vai trò {role!r} không hợp lệ; hợp lệ: {', '.join(ROLES)}")
    bad = [s for s in scopes if s not in SCOPES]
    if bad:
        raise ValueError(f"phạm vi {bad} không hợp lệ; hợp lệ: {', '.join(SCOPES)}")
    if units:
        cur.execute("SELECT array_agg(u) FROM unnest(%s::text[]) u WHERE u NOT IN (SELECT unit_key FROM core.admin_unit)",
                    (list(units),))
        unknown = cur.fetchone()[0]
        if unknown:
            raise ValueError(f"đơn vị không tồn tại: {unknown}")
    cur.execute("""INSERT INTO app.account (username, display_name, role, password_hash, scopes, units)
                   VALUES (%s, %s, %s, %s, %s, %s)
                   ON CONFLICT (username) DO UPDATE SET display_name = EXCLUDED.display_name, role = EXCLUDED.role,
                       password_hash = coalesce(EXCLUDED.password_hash, app.account.password_hash),
                       scopes = EXCLUDED.scopes, units = EXCLUDED.units, disabled_at = NULL, updated_at = now()""",
                (username, display_name, role, hash_password(password) if password else None, list(scopes),
                 list(units)))


def create_api_key(cur, account: str, name: str, scopes: list[str], days: int | None = None) -> tuple[str, str]:
    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        raise ValueError(f"phạm vi {bad or scopes} không hợp lệ; hợp lệ: {', '.join(SCOPES)}")
    cur.execute("SELECT account_id, role FROM app.account WHERE username = %s AND disabled_at IS NULL", (account,))
    row = cur.fetchone()
    if row is None or row[1] != "integration":
        raise ValueError(f"{account!r} không phải tài khoản hệ thống tích hợp (role integration) đang hoạt động")
    key, prefix, digest = new_api_key()
    expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days) if days else None
    cur.execute("""INSERT INTO app.api_key (prefix, secret_sha256, account_id, name, scopes, expires_at)
                   VALUES (%s, %s, %s, %s, %s, %s)""", (prefix, digest, row[0], name, scopes, expires))
    return key, prefix


# Sa Đéc city (867): an official of the city and one of a ward, an analyst, the one-stop system, an admin.
DEMO = [
    ("admin", "admin", "Quản trị hệ thống", [], []),
    ("canbo.sadec", "official", "Cán bộ UBND TP Sa Đéc", ["pre2025/district/867"], ["pii:read"]),
    ("canbo.phuong1", "official", "Cán bộ UBND Phường 1 (Sa Đéc)", ["pre2025/commune/29902"], []),
    ("phantich", "analyst", "Chuyên viên phân tích", [], []),
    ("motcua", "integration", "Hệ thống một cửa điện tử tỉnh", [], []),
]


def demo_accounts(cur, password: str | None = None) -> dict:
    """Create (or reset) the demo accounts. The password comes from TTHC_DEMO_PASSWORD, else a fresh
    one is generated; either way it is returned for printing once. Also an API key for `motcua`."""
    from tthc.settings import Settings

    password = password or Settings.from_env().app.demo_password or secrets.token_urlsafe(12)
    for username, role, name, units, scopes in DEMO:
        create_account(cur, username, role, name, None if role == "integration" else password, units, scopes)
    key, _ = create_api_key(cur, "motcua", "demo", ["results:read", "feed:read", "progress:read"])
    return {"password": password, "accounts": [d[0] for d in DEMO if d[1] != "integration"], "api_key": key}


def main(argv: list[str] | None = None) -> int:
    from tthc.warehouse.db import transaction
    from tthc.warehouse.server import resolve_warehouse_url

    p = argparse.ArgumentParser(prog="python -m tthc.app.admin", description="accounts and API keys of tthc serve")
    p.add_argument("--warehouse-url", help="default: WAREHOUSE_URL, else the embedded server")
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("add-user", help="create or update an account (password asked on stdin if not given)")
    a.add_argument("username")
    a.add_argument("--role", choices=ROLES, required=True)
    a.add_argument("--name", required=True, help="display name")
    a.add_argument("--units", default="", help="comma-separated unit keys, e.g. pre2025/commune/29902")
    a.add_argument("--scopes", default="", help=f"comma-separated: {', '.join(SCOPES)}")
    a.add_argument("--password-env", help="read the password from this environment variable")
    d = sub.add_parser("disable-user", help="disable an account (its sessions end at once)")
    d.add_argument("username")
    k = sub.add_parser("create-key", help="an API key for an integration account (printed once)")
    k.add_argument("account")
    k.add_argument("--name", required=True)
    k.add_argument("--scopes", required=True, help=f"comma-separated: {', '.join(SCOPES)}")
    k.add_argument("--days", type=int, help="expires after this many days")
    r = sub.add_parser("revoke-key", help="revoke an API key by its prefix")
    r.add_argument("prefix")
    sub.add_parser("demo-accounts", help="create the demo accounts; prints their password once")
    args = p.parse_args(argv)
    url = args.warehouse_url or resolve_warehouse_url()
    split = lambda s: [x for x in s.split(",") if x]  # noqa: E731
    try:
        with transaction(url) as cur:
            if args.command == "add-user":
                import getpass
                import os

                pw = None
                if args.role != "integration":
                    pw = os.environ[args.password_env] if args.password_env else getpass.getpass("mật khẩu: ")
                create_account(cur, args.username, args.role, args.name, pw, split(args.units), split(args.scopes))
                print(f"account {args.username} ({args.role}) saved")
            elif args.command == "disable-user":
                cur.execute("UPDATE app.account SET disabled_at = now(), updated_at = now() WHERE username = %s",
                            (args.username,))
                print(f"{cur.rowcount} account disabled")
            elif args.command == "create-key":
                key, prefix = create_api_key(cur, args.account, args.name, split(args.scopes), args.days)
                print(json.dumps({"key": key, "prefix": prefix, "note": "shown once; store it now"}))
            elif args.command == "revoke-key":
                cur.execute("UPDATE app.api_key SET revoked_at = now() WHERE prefix = %s AND revoked_at IS NULL",
                            (args.prefix,))
                print(f"{cur.rowcount} key revoked")
            elif args.command == "demo-accounts":
                print(json.dumps(demo_accounts(cur), ensure_ascii=False, indent=1))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
