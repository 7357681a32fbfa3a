"""Ground truth (ground_truth.jsonl): one JSON object per line.

Result lines are the hot path of the generator (one per result, millions of them), so
they are assembled from pre-rendered JSON fragments instead of being built as dicts
and serialized: :class:`ResultGT` holds the canonical part (``head``, rendered once)
and the parts the source writers fill in (appearances, flags). Every other line
(bad inputs, external-only rows) is a plain dict serialized with json.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from tthc_dev.demo_data.records import DATE_BASE, SA_DEC_CUTOFF, SA_DEC_DISTRICT, SCOPE_CUTOFF, DateStrings
from tthc_dev.demo_data.reference import PROVINCE_CODE, UNIT_ERA

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_B = {True: "true", False: "false"}
Q = '"'
SCOPE_CUTOFF_ORD = SCOPE_CUTOFF.toordinal()
SA_DEC_CUTOFF_ORD = SA_DEC_CUTOFF.toordinal()


def js(s: str | None) -> str:
    """A JSON string literal (fast path for the plain text the generator produces)."""
    if s is None:
        return "null"
    if '"' in s or "\\" in s or not s.isprintable():
        return _dumps(s)
    return f'"{s}"'


class ResultGT:
    """Ground truth of one result while its rows are being written."""

    __slots__ = (
        "result_id", "head", "appears", "dups", "id_problem", "encoding", "old_unit_name",
        "missing_unit_code", "already_digitized", "paper_only", "expired", "revoked", "open", "signed", "e_copy_ref",
    )  # fmt: skip

    def __init__(self, result_id: str, head: str, *, paper_only: bool, expired: bool, revoked: bool) -> None:
        self.result_id = result_id
        self.head = head
        self.appears: list[str] = []  # JSON objects
        self.dups: list[str] = []  # JSON objects: where the extra copies are
        self.id_problem: str | None = None  # JSON object
        self.encoding = "none"
        self.old_unit_name: str | None = None  # JSON object
        self.missing_unit_code = False
        self.already_digitized: str | None = None  # external_ref
        self.paper_only = paper_only
        self.expired = expired
        self.revoked = revoked
        self.open = 0  # duplicate rows scheduled but not written yet
        self.signed = False  # signed electronically when issued (born digital), from 2022 on
        self.e_copy_ref: str | None = None  # the signed file's reference in the source

    def line(self) -> bytes:
        return (
            f'{self.head},"signed_electronically":{_B[self.signed]},"e_copy_ref":{js(self.e_copy_ref)},"appears":[{",".join(self.appears)}],"flags":{{"duplicate_rows":{{"count":{len(self.dups)},'
            f'"where":[{",".join(self.dups)}]}},"id_problem":{self.id_problem or "null"},'
            f'"legacy_encoding":"{self.encoding}","old_unit_name":{self.old_unit_name or "null"},'
            f'"missing_unit_code":{_B[self.missing_unit_code]},"already_digitized":{js(self.already_digitized)},'
            f'"paper_only":{_B[self.paper_only]},"expired":{_B[self.expired]},"revoked":{_B[self.revoked]}}}}}\n'
        ).encode("utf-8")


class HeadRenderer:
    """Renders the canonical part of a result line."""

    def __init__(self) -> None:
        self.iso = DateStrings.get().iso
        self.units: dict[str, str] = {}

    def _unit(self, rec: dict) -> str:
        eid = rec["agency"].electronic_id
        u = self.units.get(eid)
        if u is None:
            d = rec["district_code"]
            u = self.units[eid] = (
                f'{{"era":"{UNIT_ERA}","level":"{rec["level"]}","code":"{rec["unit_code"]}",'
                f'"district_code":{"null" if d is None else f"{chr(34)}{d}{chr(34)}"},"province_code":"{PROVINCE_CODE}"}}'
            )
        return u

    def __call__(self, rec: dict, paper_only: bool = False) -> ResultGT:
        # Canonical text comes from the package's data files, checked by
        # reference.check_json_safe() to need no JSON escaping, and from digits.
        iso = self.iso
        p = rec["person"]
        issue = rec["issue"]
        end = rec["valid_until"]
        status = rec["status"]
        valid = status == "valid"
        book = rec["book"]
        rid = f"R{rec['rid']:08d}"
        head = (
            f'{{"kind":"result","result_id":"{rid}","procedure_code":"{rec["proc"]}",'
            f'"agency_electronic_id":"{rec["agency"].electronic_id}","unit":{self._unit(rec)},'
            f'"number":"{rec["number"]}","book":{"null" if book is None else f"{Q}{book}{Q}"},"issue_date":"{iso[issue - DATE_BASE]}",'
            f'"valid_until":{"null" if end is None else chr(34) + iso[end - DATE_BASE] + chr(34)},"status":"{status}",'
            f'"in_scope_province_plan":{_B[valid and issue <= SCOPE_CUTOFF_ORD]},'
            f'"in_scope_sa_dec_plan":{_B[valid and issue <= SA_DEC_CUTOFF_ORD and rec["district_code"] == SA_DEC_DISTRICT]},'
            f'"name":"{p["name"]}","gender":"{p["gender"]}","birth_date":"{iso[p["birth"] - DATE_BASE]}",'
            f'"person_id":"{p["pid"]}","person_id_kind":"{p["pid_kind"]}"'
        )
        p2 = rec.get("person2")
        if p2 is not None:
            head += f',"name_2":"{p2["name"]}","birth_date_2":"{iso[p2["birth"] - DATE_BASE]}","person_id_2":"{p2["pid"]}"'
        if "business_name" in rec:
            head += f',"business_name":"{rec["business_name"]}"'
        if "mst" in rec:
            head += f',"mst":"{rec["mst"]}"'
        if "address" in rec:
            head += f',"address":"{rec["address"]}"'
        if rec["proc"] == "GPXD":
            head += f',"extensions":{rec["extensions"]}'
        return ResultGT(rid, head, paper_only=paper_only, expired=status == "expired", revoked=status == "revoked")


class GroundTruthWriter:
    def __init__(self, path: Path) -> None:
        self.fh = path.open("wb", buffering=1 << 20)
        self.counts: Counter = Counter()

    def result(self, g: ResultGT) -> None:
        self.fh.write(g.line())
        self.counts["result"] += 1

    def write(self, obj: dict) -> None:
        self.fh.write(_dumps(obj).encode("utf-8") + b"\n")
        self.counts[obj["kind"]] += 1

    def bad_input(self, obj: dict) -> None:
        self.write({"kind": "bad_input", **obj})

    def close(self) -> None:
        self.fh.close()
