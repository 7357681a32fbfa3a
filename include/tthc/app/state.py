"""The application's process state, created on first use (the Airflow api-server mounts the app
without running its lifespan)."""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass

from tthc.app.auth import KeyCache
from tthc.app.db import Database, provision_login
from tthc.codes import CodeFormat
from tthc.settings import AppSettings, Settings

log = logging.getLogger(__name__)


@dataclass
class AppState:
    settings: AppSettings
    db: Database
    db_url: str
    secret: str
    keys: KeyCache | None = None    # verified API keys (TTHC_APP_KEY_CACHE_SECONDS); None: off
    code_format: CodeFormat = CodeFormat()  # TTHC_RESULT_CODE_TEMPLATE, read once per process


class StateHolder:
    def __init__(self, database_url: str | None = None, warehouse_url: str | None = None,
                 settings: AppSettings | None = None):
        self._database_url = database_url
        self._warehouse_url = warehouse_url
        self._settings = settings
        self._state: AppState | None = None
        self._lock = threading.Lock()

    def get(self) -> AppState:
        if self._state is None:
            with self._lock:
                if self._state is None:
                    self._state = self._build()
        return self._state

    def _build(self) -> AppState:
        settings = self._settings or Settings.from_env().app
        secret = settings.secret
        url = self._database_url or settings.database_url
        if not url:
            from tthc.warehouse.server import resolve_warehouse_url

            url = provision_login(self._warehouse_url or resolve_warehouse_url(), secret)
        if not secret:
            log.warning("TTHC_APP_SECRET is not set: sessions are signed with a random per-process key and end "
                        "when the process restarts (set it when running several workers)")
            secret = secrets.token_urlsafe(48)
        db = Database(url, settings.pool_size)
        log.info("tthc app: database login %s (role tthc_app)", db.role)
        keys = KeyCache(db.connect_kwargs, settings.key_cache_seconds) if settings.key_cache_seconds > 0 else None
        return AppState(settings, db, url, secret, keys, CodeFormat.from_env())

    async def close_async_reads(self) -> None:
        if self._state is not None:
            await self._state.db.reads.close()

    def close(self) -> None:
        if self._state is not None:
            if self._state.keys is not None:
                self._state.keys.close()
            self._state.db.close()
            self._state = None


def state(request) -> AppState:
    """The process state of the application serving this request."""
    return request.app.state.holder.get()
