"""The holder matching key's secret: the demo's generated one, and rotation to a new one.

core.holder.match_key (and core.dossier.holder_match_key, staging.result_candidate.holder_key) is
HMAC-SHA256(secret, id_type:id_value); it matches rows to holders and never leaves core. What
analysts and the application see is core.holder.holder_ref, random: rotation leaves it alone.
"""

from __future__ import annotations

import io
import logging
import os
import secrets
from pathlib import Path

from tthc.load.contract import holder_key
from tthc.settings import check_holder_key_secret
from tthc.warehouse.db import transaction

log = logging.getLogger(__name__)

DEMO_SECRET_FILE = "holder_key_secret"


def demo_secret(local: Path) -> str:
    """The demo's secret: <local>/holder_key_secret, made once (random, mode 0600) and reused, so a
    demo run again matches the holders it loaded before."""
    path = Path(local) / DEMO_SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48) + "\n")
    os.chmod(path, 0o600)
    return check_holder_key_secret(path.read_text(encoding="utf-8").strip(), origin=str(path))


def read_secret_file(path: Path | str) -> str:
    """A secret from a file (first line, stripped); refuses a file others can read."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the secret file ({exc.strerror})") from None
    if mode & 0o077:
        raise ValueError(f"{path}: the secret file is readable by others (mode {oct(mode & 0o777)}); chmod 600 it")
    return check_holder_key_secret((text.splitlines() or [""])[0].strip(), origin=str(path))


def rotate_holder_key(url: str, new_secret: str) -> dict:
    """Recompute every matching key under new_secret, in one transaction; holder_ref is untouched.

    Holder keys are recomputed from core.holder_identity and staged rows' keys from their own IDs.
    A dossier keeps only its key: it follows its holder's key; a dossier key that matches no holder
    cannot be recomputed and is counted (it is recomputed when its file is loaded again)."""
    check_holder_key_secret(new_secret, origin="the new secret")
    with transaction(url) as cur:
        # Loads match against these keys: they wait until the rotation commits.
        cur.execute("LOCK TABLE core.holder, core.dossier, staging.result_candidate IN EXCLUSIVE MODE")
        cur.execute("""SELECT holder_id FROM core.holder_identity GROUP BY holder_id HAVING count(*) > 1 LIMIT 1""")
        several = cur.fetchone()
        if several:
            raise ValueError(f"holder {several[0]} has several identities: its matching key is ambiguous")
        cur.execute("""SELECT id_type, id_value FROM core.holder_identity
                       UNION SELECT holder_id_type, holder_id_value FROM staging.result_candidate
                       WHERE holder_key IS NOT NULL AND holder_id_value IS NOT NULL""")
        buf = io.StringIO()
        n_ids = 0
        for id_type, id_value in cur:
            buf.write(f"{id_type}\t{id_value}\t{holder_key(id_type, id_value, new_secret)}\n")
            n_ids += 1
        buf.seek(0)
        cur.execute("CREATE TEMP TABLE rekey (id_type text, id_value text, new_key text) ON COMMIT DROP")
        cur.copy_expert("COPY rekey FROM STDIN", buf)
        cur.execute("CREATE INDEX ON rekey (id_type, id_value)")
        cur.execute("ANALYZE rekey")
        cur.execute("""CREATE TEMP TABLE holder_rekey ON COMMIT DROP AS
                       SELECT h.holder_id, h.match_key AS old_key, k.new_key
                       FROM core.holder h
                       JOIN core.holder_identity i ON i.holder_id = h.holder_id
                       JOIN rekey k ON (k.id_type, k.id_value) = (i.id_type, i.id_value)""")
        cur.execute("""UPDATE core.dossier d SET holder_match_key = m.new_key
                       FROM holder_rekey m WHERE d.holder_match_key = m.old_key""")
        dossiers = cur.rowcount
        cur.execute("""SELECT count(*) FROM core.dossier d WHERE d.holder_match_key IS NOT NULL
                       AND NOT EXISTS (SELECT 1 FROM holder_rekey m WHERE m.new_key = d.holder_match_key)""")
        dossiers_unmatched = cur.fetchone()[0]
        # Two steps through a value no key can take: old and new keys never collide on the unique index.
        cur.execute("""UPDATE core.holder h SET match_key = 'rekey:' || h.holder_id
                       FROM holder_rekey m WHERE m.holder_id = h.holder_id""")
        cur.execute("""UPDATE core.holder h SET match_key = m.new_key
                       FROM holder_rekey m WHERE m.holder_id = h.holder_id""")
        holders = cur.rowcount
        cur.execute("""SELECT count(*) FROM core.holder h
                       WHERE NOT EXISTS (SELECT 1 FROM holder_rekey m WHERE m.holder_id = h.holder_id)""")
        holders_without_identity = cur.fetchone()[0]
        cur.execute("""UPDATE staging.result_candidate c SET holder_key = k.new_key
                       FROM rekey k WHERE (k.id_type, k.id_value) = (c.holder_id_type, c.holder_id_value)
                         AND c.holder_key IS NOT NULL""")
        staged = cur.rowcount
    report = {"holders": holders, "holders_without_identity": holders_without_identity,
              "dossiers": dossiers, "dossiers_without_holder": dossiers_unmatched, "staged_rows": staged}
    log.info("holder keys rotated: %s", report)
    return report

