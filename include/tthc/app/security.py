"""Who is asking, and what they may see: passwords (argon2id), session tokens (short-lived JWT),
API keys (hashed, scoped, revocable), login throttling, CSRF, PII masking and the audit trail."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

ROLES = ("official", "analyst", "integration", "admin")
SCOPES = ("results:read", "feed:read", "progress:read", "pii:read")
ROLE_VI = {"official": "Cán bộ", "analyst": "Phân tích", "integration": "Hệ thống tích hợp", "admin": "Quản trị"}
KEY_RE = re.compile(r"^tthc_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_hasher = PasswordHasher()  # argon2id, the library's (OWASP) defaults


@functools.cache
def _dummy_hash() -> str:
    """A well-formed hash that matches nothing: unknown users cost the same time as wrong passwords."""
    return _hasher.hash(secrets.token_urlsafe(16))


class AuthError(Exception):
    """401: no or bad credentials."""


class Forbidden(Exception):
    """403: authenticated, not allowed."""


class TooManyAttempts(Exception):
    """429: too many failed login or key attempts."""

    def __init__(self, retry_after: int):
        super().__init__(f"quá nhiều lần thử sai; thử lại sau {retry_after} giây")
        self.retry_after = retry_after


@dataclass
class Principal:
    account_id: int
    username: str
    display_name: str
    role: str
    scopes: frozenset[str]
    units: tuple[str, ...]              # assigned unit keys
    scope_units: list[str] | None       # assigned units and everything under them; None = every unit
    via: str                            # session | token | api_key
    key_prefix: str | None = None
    client_addr: str | None = None
    user_agent: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def sees_pii(self) -> bool:
        """Names and personal IDs in clear (each read audited). Analysts never, whatever their scopes."""
        return self.role in ("official", "integration") and "pii:read" in self.scopes

    @property
    def sees_masked_pii(self) -> bool:
        return self.role == "official"

    def can(self, scope: str) -> bool:
        """Role defaults plus, for machine clients, the key's scopes."""
        if self.role == "integration":
            return scope in self.scopes
        allowed = {"official": {"results:read", "progress:read"},
                   "analyst": {"results:read", "progress:read"},
                   "admin": {"progress:read"}}[self.role]
        return scope in allowed or (scope == "pii:read" and self.sees_pii)

    def unit_filter(self) -> dict:
        """Query parameters of the scoping predicate every result query carries (see queries.SCOPE)."""
        return {"all_units": self.scope_units is None, "scope_units": self.scope_units or []}


# ------------------------------------------------------------------------------ passwords and keys


def hash_password(password: str) -> str:
    if len(password) < 12:
        raise ValueError("mật khẩu phải có ít nhất 12 ký tự")
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_api_key() -> tuple[str, str, str]:
    """(full key shown once, public prefix, sha256 of the secret to store)."""
    prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    return f"tthc_{prefix}_{secret}", prefix, hashlib.sha256(secret.encode()).hexdigest()


def split_api_key(key: str) -> tuple[str, str] | None:
    m = KEY_RE.match(key or "")
    return (m.group(1), hashlib.sha256(m.group(2).encode()).hexdigest()) if m else None


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


# ------------------------------------------------------------------------------ tokens


def issue_token(secret: str, account_id: int, version: float, minutes: int, kind: str = "session") -> str:
    now = dt.datetime.now(dt.timezone.utc)
    claims = {"sub": str(account_id), "ver": version, "typ": kind, "iat": now,
              "exp": now + dt.timedelta(minutes=minutes), "jti": secrets.token_hex(8)}
    return jwt.encode(claims, secret, algorithm="HS256")


def read_token(secret: str, token: str) -> dict:
    """Claims of a valid, unexpired token we signed; AuthError otherwise (forged, expired, alg=none ...)."""
    try:
        return jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["sub", "exp", "iat", "ver"]})
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("phiên đăng nhập đã hết hạn") from exc
    except jwt.PyJWTError as exc:
        raise AuthError("mã xác thực không hợp lệ") from exc


# ------------------------------------------------------------------------------ CSRF


def csrf_matches(cookie: str | None, submitted: str | None) -> bool:
    return bool(cookie) and bool(submitted) and hmac.compare_digest(cookie.encode(), submitted.encode())
