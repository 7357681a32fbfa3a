"""What the `tthc scans …` commands print (the commands are in tthc.commands):

    tthc scans list                 # drop zones of drops/*.yaml
    tthc scans run demo_scans       # one whole run of a drop zone
    tthc scans fixity               # re-hash every archived scan
    tthc scans duplicates [BATCH]   # the duplicate report (all runs, or one batch)

    # the officials' review queue (docs/scans.md, "Review queue")
    tthc scans review list [--unit 30022] [--limit 50] [--json]
    tthc scans review show 12
    tthc scans review resolve 12 --set doc_number=61/2015 --set issue_date=12/11/2015 --by "Nguyễn Văn A"
    tthc scans review reject 13 --reason "không phải kết quả TTHC" --by "Nguyễn Văn A"

The warehouse is WAREHOUSE_URL (else the Airflow connection / embedded server, as for the DAGs).
"""

from __future__ import annotations

import json
import sys


def print_review_list(url: str, unit: str | None, limit: int, as_json: bool) -> None:
    from tthc.scans.review import list_open

    entries = list_open(url, unit=unit, limit=limit)
    if as_json:
        print(json.dumps(entries, default=str, ensure_ascii=False, indent=1))
        return
    for e in entries:
        raw = e["raw_row"]
        where = e["unit_name"] or "?"
        print(f"#{e['review_id']}\t{e['created_at']:%Y-%m-%d %H:%M}\t{e['drop_zone']}/{e['file_name']}\t"
              f"{raw.get('document_type') or '?'} số {raw.get('doc_number') or '?'} "
              f"ngày {raw.get('issue_date') or '?'}\t{where}\t{e['reason']}")
    print(f"{len(entries)} open entr{'y' if len(entries) == 1 else 'ies'}", file=sys.stderr)


def print_review_entry(url: str, review_id: int) -> None:
    from tthc.scans.review import get_entry

    e = get_entry(url, review_id)
    print(f"#{e['review_id']} {e['status']}  document {e['document_id']}  {e['drop_zone']}/{e['file_name']}")
    print(f"archive: {e['archive_uri']}\nreason: {e['reason']}")
    for name, f in sorted(e["fields"].items()):
        print(f"  {name:18} {f['value']!s:40} confidence {float(f['confidence']):.2f}")
    if e["sidecar"]:
        print(f"manifest: {json.dumps(e['sidecar'], ensure_ascii=False)}")
    for problem in e["problems"]:
        print(f"problem: {problem}")
    print("---- page text ----\n" + (e["page_text"] or ""))


def parse_fields(items: list[str]) -> dict[str, str]:
    """--set FIELD=VALUE (repeatable) -> {field: value}."""
    from tthc.scans.review import ReviewError

    fields = {}
    for item in items:
        if "=" not in item:
            raise ReviewError(f"--set {item!r}: expected FIELD=VALUE")
        name, value = item.split("=", 1)
        fields[name.strip()] = value
    return fields
