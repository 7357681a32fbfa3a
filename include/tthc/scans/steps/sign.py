"""Sign: the digitized copy signed with the agency certificate (images wrapped into a PDF first), kept
write-once in the zone's signed archive. Optional: a drop zone names it in `steps:` (or sets
signing.enabled) and gives signing.key_path and signing.cert_path."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from tthc.ops.events import event
from tthc.scans.steps.base import FileContext, Step, sha256_hex


class SignStep(Step):
    name = "sign"

    def can_run(self, ctx: FileContext) -> bool:
        with ctx.conn, ctx.conn.cursor() as cur:
            cur.execute("SELECT signed_copy_uri FROM core.document WHERE document_id = %s", (ctx.document_id,))
            return not cur.fetchone()[0]

    def run(self, ctx: FileContext) -> None:
        from tthc.scans.legal.images import images_to_pdf
        from tthc.scans.legal.signing import sign_copy
        from tthc.scans.storage import open_store
        from tthc.scans.text import LOCAL_TZ

        cfg = ctx.zone.signing
        pdf = ctx.data
        if ctx.media_type != "application/pdf":
            dpis = [p.dpi for p in ctx.plan.pages if p.dpi]
            pdf = images_to_pdf([ctx.data], min(dpis) if dpis else None)
        secret = os.environ.get(cfg["passphrase_env"]) if cfg.get("passphrase_env") else None
        signed_at = dt.datetime.now(LOCAL_TZ).replace(microsecond=0)
        signed = sign_copy(pdf, key_path=Path(cfg["key_path"]), cert_path=Path(cfg["cert_path"]),
                           passphrase=secret.encode() if secret else None, signing_time=signed_at,
                           # its own field: a copy may arrive signed already (Signature1)
                           field_name=cfg.get("field_name", "TTHC_Digitized"),
                           ca_chain_paths=[Path(p) for p in cfg.get("ca_chain") or []] or None)
        store = open_store(ctx.zone.signed_archive, ctx.zone.s3)
        uri, _ = store.put_immutable(f"sha256/{ctx.sha[:2]}/{ctx.sha[2:4]}/{ctx.sha}.signed.pdf", signed)
        with ctx.conn, ctx.conn.cursor() as cur:
            cur.execute("UPDATE core.document SET signed_copy_uri = %s, signed_at = %s WHERE document_id = %s",
                        (uri, signed_at, ctx.document_id))
            event(cur, "document", ctx.document_id, "signed", ctx.batch_id,
                  {"signed_copy_uri": uri, "signed_at": signed_at, "sha256": sha256_hex(signed)})
