"""ops.object_event: the per-object event log (ingested, validated, ocred, signed, linked …)."""

from __future__ import annotations

import json

from psycopg2.extras import Json


def dumps(obj) -> str:
    return json.dumps(obj, default=str, ensure_ascii=False)


def event(cur, object_type: str, object_id, name: str, batch_id: int | None, detail: dict | None = None) -> None:
    cur.execute("""INSERT INTO ops.object_event (object_type, object_id, event, batch_id, detail)
                   VALUES (%s, %s, %s, %s, %s)""",
                (object_type, str(object_id), name, batch_id, Json(detail or {}, dumps=dumps)))
