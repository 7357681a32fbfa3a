"""Writers of the legacy sources, each with its own flaws and its own random stream.

Every writer receives canonical results (see :mod:`tthc_dev.demo_data.records`) one at a
time, writes them in batches, records where each one landed in the result's ground
truth (``gt.appears``) and which flaws it got (the other :class:`ResultGT` fields),
and counts them (``self.counts``). Duplicate rows are scheduled a few steps later inside a bounded
window, so that a duplicate is not simply the next row.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import shutil
import sqlite3
import unicodedata
import zipfile
from collections import Counter
from datetime import date, datetime
from functools import partial
from pathlib import Path

from stdnum.vn.mst import is_valid as mst_is_valid

from tthc_dev.demo_data.gt import ResultGT, js
from tthc_dev.demo_data.records import AS_OF_ORD, DATE_BASE, DateStrings, NameMaker, Picker, cccd, lc_first, strip_diacritics
from tthc_dev.demo_data.reference import Reference
from tthc.text.legacy_encoding import encode_table

BATCH = 10_000
DUP_WINDOW = 64  # a duplicate row is written 1..DUP_WINDOW results after its original
XLSX_MAX_ROWS = 1_000_000
XLSX_BATCH = 200
FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
FIXED_DOC_TIME = "2025-12-31T00:00:00Z"
ORD_2010 = date(2010, 1, 1).toordinal()
ORD_2012 = date(2012, 1, 1).toordinal()
ORD_2022 = date(2022, 1, 1).toordinal()
ORD_2023 = date(2023, 1, 1).toordinal()
ORD_2024 = date(2024, 1, 1).toordinal()

# Per-source flaw rates. Recorded verbatim in manifest.json.
RATES: dict[str, dict[str, float]] = {
    "civil_status": {
        "encoding_tcvn3": 0.25,
        "encoding_vni": 0.15,
        "encoding_nfd": 0.03,
        "duplicate": 0.04,
        "junk_row": 0.006,
        "missing_unit_code": 0.06,
        "abbreviated_unit_name": 0.12,
        "with_district_name": 0.28,
        "with_district_name_when_renamed": 0.60,
        "late_update": 0.08,
    },
    "id": {
        "null": 0.015,
        "missing": 0.015,
        "bad_length": 0.015,
        "century_mismatch": 0.01,
        "non_digit": 0.006,
        "province_mismatch_ks": 0.04,
    },
    "household_business": {
        "duplicate": 0.025,
        "junk_row": 0.006,
        "missing_unit_code": 0.05,
        "bad_mst_checksum": 0.04,
        "mst_missing": 0.03,
        "mst_branch_suffix": 0.03,
    },
    "permits": {
        "duplicate": 0.015,
        "junk_row": 0.004,
        "missing_unit_code": 0.05,
    },
    "already_digitized": {
        "civil_overlap": 0.08,
        "external_only_per_civil_result": 0.01,
    },
    # Share of results issued in each year that were signed electronically (ký số) when issued and
    # put on the province system as a born-digital file. Civil status and permits, from 2022 on only.
    "signing": {
        "2022": 0.80,
        "2023": 0.86,
        "2024": 0.91,
        "2025": 0.95,
    },
}

DATE_FORMATS = (("dmy", 0.55), ("iso", 0.15), ("dmyy", 0.10), ("dmy_dash", 0.10), ("words", 0.10))


def child_env() -> dict[str, str]:
    """Environment for the generator's helper processes: they import this very ``tthc_dev`` package."""
    import os

    import tthc

    root = str(Path(tthc.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def stream(seed: int, name: str) -> random.Random:
    """An independent random stream per output / concern, derived from the seed."""
    return random.Random(f"{seed}:{name}")


def fmt_date(o: int, style: str) -> str:
    """Ordinal -> date text in one of DATE_FORMATS' styles."""
    return DateStrings.get().styles[style][o - DATE_BASE]


# Timestamps are (day ordinal, seconds since midnight) pairs, formatted only when written.
def work_time(rng: random.Random, o: int) -> tuple[int, int]:
    """A moment during office hours (07:00-17:00) on day ordinal ``o``."""
    return (o, 25200 + int(rng.random() * 36000))


def cap_ts(t: tuple[int, int]) -> tuple[int, int]:
    return t if t[0] <= AS_OF_ORD else (AS_OF_ORD, 82800)


def ts_add(t: tuple[int, int], days: int, seconds: int = 0) -> tuple[int, int]:
    d, s = divmod(t[1] + seconds, 86400)
    return (t[0] + days + d, s)


def ts(t: tuple[int, int]) -> str:
    """'YYYY-MM-DD HH:MM:SS' (SQL TIMESTAMP literal)."""
    h, rem = divmod(t[1], 3600)
    return f"{DateStrings.get().iso[t[0] - DATE_BASE]} {h:02d}:{rem // 60:02d}:{rem % 60:02d}"


def ts_iso(t: tuple[int, int]) -> str:
    """ISO 8601 with the Vietnam offset: 'YYYY-MM-DDTHH:MM:SS+07:00'."""
    h, rem = divmod(t[1], 3600)
    return f"{DateStrings.get().iso[t[0] - DATE_BASE]}T{h:02d}:{rem // 60:02d}:{rem % 60:02d}+07:00"


def _identity(text: str) -> str:
    return text


def _translator(table: dict[int, str]):
    def tr(text: str) -> str:
        return text.translate(table)

    return tr


# How a row's text is written, per encoding: canonical text is NFC, so TCVN3/VNI are a translate.
ENCODERS = {
    "none": _identity,
    "nfd": partial(unicodedata.normalize, "NFD"),
    "tcvn3": _translator(encode_table("tcvn3")),
    "vni": _translator(encode_table("vni")),
}


def id_flaw(rng: random.Random, pid: str, kind: str, proc: str, ref: Reference) -> tuple[str | None, str | None]:
    """Return (value as written in the source, problem or None)."""
    rates = RATES["id"]
    r = rng.random()
    if r < rates["null"]:
        return None, "null"
    r -= rates["null"]
    if r < rates["missing"]:
        return "", "missing"
    r -= rates["missing"]
    if r < rates["bad_length"]:
        if rng.random() < 0.5:
            return pid[:-1], "bad_length"
        return pid + str(int(rng.random() * 10)), "bad_length"
    r -= rates["bad_length"]
    if r < rates["century_mismatch"] and kind == "cccd":
        cg = int(pid[3])
        return pid[:3] + str(cg ^ 2) + pid[4:], "century_mismatch"
    r -= rates["century_mismatch"]
    if r < rates["non_digit"]:
        pos = 3 + int(rng.random() * (len(pid) - 3))
        return pid[:pos] + "OIl "[int(rng.random() * 4)] + pid[pos + 1 :], "non_digit"
    if proc == "KS" and kind == "cccd" and rng.random() < rates["province_mismatch_ks"]:
        prov = ref.other_province_codes[int(rng.random() * len(ref.other_province_codes))]
        return f"{prov:03d}" + pid[3:], "province_mismatch"
    return pid, None


class UnitNamer:
    """Unit names as clerks wrote them: abbreviations and names before a change of status."""

    def __init__(self, ref: Reference) -> None:
        self.ref = ref
        self.old: dict[int, list[tuple[int, int, str, str]]] = {}
        for dcode, entries in (ref.places.get("old_district_names") or {}).items():
            self.old[int(dcode)] = [
                (int(e.get("from_year", 0)), int(e["until_year"]), e["name"], e.get("abbrev", e["name"])) for e in entries
            ]
        ab = ref.places["abbreviations"]
        self.abbr_commune = list(ab["commune"].items())
        self.abbr_district = list(ab["district"].items())
        self._cache: dict[tuple[int, int], tuple[str, bool]] = {}

    def district_name(self, dcode: int, year: int) -> tuple[str, bool]:
        """The district's name as written in ``year``, and whether that is an old name."""
        key = (dcode, year)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        out = (self.ref.district(dcode).name, False)
        for lo, hi, name, _ in self.old.get(dcode, ()):
            if lo <= year < hi:
                out = (name, True)
        self._cache[key] = out
        return out

    def district_abbrev(self, dcode: int, year: int, rng: random.Random) -> str:
        for lo, hi, _, abbrev in self.old.get(dcode, ()):
            if lo <= year < hi:
                return abbrev
        return self._abbrev(self.ref.district(dcode).name, self.abbr_district, rng)

    def commune_abbrev(self, name: str, rng: random.Random) -> str:
        return self._abbrev(name, self.abbr_commune, rng)

    @staticmethod
    def _abbrev(name: str, table, rng: random.Random) -> str:
        for prefix, alts in table:
            if name.startswith(prefix):
                return alts[int(rng.random() * len(alts))] + name[len(prefix) :]
        return name

    def agency_name(self, agency, year: int) -> str:
        """Agency name as printed at the time (district People's Committees were renamed with their district)."""
        if agency.level == "district":
            name, old = self.district_name(agency.unit_code, year)
            if old:
                return "Ủy ban nhân dân " + name[0].lower() + name[1:]
        return agency.name


class Signing:
    """Whether a result issued from 2022 on was signed electronically when issued (ký số, ND 30/2020).

    One draw per result (duplicates repeat the original's answer), from its own stream, so turning
    this on moves no other value. Results issued before 2022 never carry a signature (None)."""

    def __init__(self, seed: int, name: str) -> None:
        self.rng = stream(seed, name)
        self.rates = {int(y): p for y, p in RATES["signing"].items()}
        self.counts: Counter = Counter()

    def __call__(self, rec: dict, gt: ResultGT, ref: str) -> bool | None:
        if rec["issue"] < ORD_2022:
            return None
        year = rec["year"]
        signed = self.rng.random() < self.rates[min(year, max(self.rates))]
        self.counts[f"signing_eligible_{year}"] += 1
        if signed:
            self.counts[f"signed_electronically_{year}"] += 1
            gt.signed = True
            gt.e_copy_ref = ref
        return signed


def civil_copy_ref(rec: dict) -> str:
    """Where the province system keeps a signed civil-status result: hotich/<year>/<agency>/<type>-Q<book>-<n>.pdf"""
    seq = rec["number"].split("/", 1)[0]
    return f"hotich/{rec['year']}/{rec['agency'].electronic_id}/{rec['proc']}-Q{rec['book']}-{seq}.pdf"


def permit_copy_ref(rec: dict) -> str:
    """xaydung/<year>/<agency>/<number with - for />.pdf"""
    return f"xaydung/{rec['year']}/{rec['agency'].electronic_id}/{rec['number'].replace('/', '-')}.pdf"


class Signers:
    """A few signers per agency, each agency with its own stream."""

    def __init__(self, seed: int, names: NameMaker) -> None:
        self.seed = seed
        self.names = names
        self.pool: dict[str, list[str]] = {}

    def get(self, agency_eid: str, pick: float) -> str:
        pool = self.pool.get(agency_eid)
        if pool is None:
            rng = stream(self.seed, f"signers:{agency_eid}")
            pool = [self.names(rng, "M" if rng.random() < 0.6 else "F") for _ in range(3)]
            self.pool[agency_eid] = pool
        return pool[int(pick * len(pool))]


def _name_variant(rng: random.Random, name: str) -> tuple[str, str]:
    r = rng.random()
    if r < 0.4:
        return strip_diacritics(name), "no_diacritics"
    if r < 0.7:
        return name.upper(), "upper_case"
    if r < 0.85:
        return name.replace(" ", "  ", 1), "extra_space"
    return name, "other_encoding"


# ================================================================ civil status (SQLite)

CIVIL_TABLE = "SO_HO_TICH"
CIVIL_COLUMNS = (
    "ID", "LOAI_SO", "SO", "QUYEN_SO", "HO_TEN", "HO_TEN_VC", "NGAY_SINH", "GIOI_TINH", "SO_GIAY_TO",
    "NOI_DANG_KY", "MA_XA", "MA_HUYEN", "NGAY_DK", "NGUOI_KY", "GHI_CHU", "UPDATED_AT", "KY_SO", "FILE_DIEN_TU",
)  # fmt: skip
CIVIL_DDL = f"""
CREATE TABLE DM_LOAI_SO (
  MA_LOAI TEXT PRIMARY KEY,
  TEN_LOAI TEXT NOT NULL,
  MA_TTHC TEXT
);
CREATE TABLE {CIVIL_TABLE} (
  ID INTEGER PRIMARY KEY,
  LOAI_SO TEXT REFERENCES DM_LOAI_SO(MA_LOAI),
  SO TEXT,
  QUYEN_SO TEXT,
  HO_TEN TEXT,
  HO_TEN_VC TEXT,
  NGAY_SINH TEXT,
  GIOI_TINH TEXT,
  SO_GIAY_TO TEXT,
  NOI_DANG_KY TEXT,
  MA_XA TEXT,
  MA_HUYEN TEXT,
  NGAY_DK TEXT,
  NGUOI_KY TEXT,
  GHI_CHU TEXT,
  UPDATED_AT TEXT NOT NULL,
  KY_SO TEXT,
  FILE_DIEN_TU TEXT
);
"""
LOAI_SO = {"KS": "Khai sinh", "KH": "Kết hôn", "KT": "Khai tử", "XNHN": "Xác nhận tình trạng hôn nhân"}
_CIVIL_APPEAR = '{"source":"civil_status","table":"SO_HO_TICH","pk":%d,"recorded_at":"%s"}'
_CIVIL_APPEAR_DUP = '{"source":"civil_status","table":"SO_HO_TICH","pk":%d,"recorded_at":"%s","duplicate":true}'
_OTHER_ENCODING = {"none": "tcvn3", "tcvn3": "vni", "vni": "none", "nfd": "vni"}
LATE_KS_NOTE = "Đăng ký khai sinh quá hạn"


def id_problem_json(field: str, problem: str, value: str | None) -> str:
    return f'{{"field":{js(field)},"problem":"{problem}","value_in_source":{js(value)}}}'


def old_name_json(raw: str, kinds: tuple[str, ...], source: str) -> str:
    return f'{{"raw":{js(raw)},"kinds":[{",".join(f"{chr(34)}{k}{chr(34)}" for k in kinds)}],"source":"{source}"}}'


class CivilStatusWriter:
    """civil_status.sqlite: the legacy hộ tịch database (table SO_HO_TICH)."""

    source = "civil_status"

    def __init__(self, path: Path, seed: int, ref: Reference, names: NameMaker, signers: Signers, gt, adig) -> None:
        self.path = path
        self.rng = stream(seed, "civil_status")
        self.id_rng = stream(seed, "civil_status:ids")
        self.junk_rng = stream(seed, "civil_status:junk")
        self.signing = Signing(seed, "signing")
        self.ref = ref
        self.names = names
        self.signers = signers
        self.namer = UnitNamer(ref)
        self.gt = gt
        self.adig = adig
        self.styles = DateStrings.get().styles
        self.style_pick = Picker([s for s, _ in DATE_FORMATS], [p for _, p in DATE_FORMATS])
        r = RATES["civil_status"]
        self.p_abbrev = r["abbreviated_unit_name"]
        self.p_with_d = r["with_district_name"]
        self.p_with_d_renamed = r["with_district_name_when_renamed"]
        self.p_missing = r["missing_unit_code"]
        self.p_late = r["late_update"]
        self.p_dup = r["duplicate"]
        self.p_junk = r["junk_row"]
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.executescript("PRAGMA page_size=4096; PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;")
        self.db.executescript(CIVIL_DDL)
        self.db.execute("BEGIN")
        self.db.executemany(
            "INSERT INTO DM_LOAI_SO VALUES (?,?,?)",
            [(k, v, ref.procedures[k].national_code) for k, v in LOAI_SO.items()],
        )
        self.insert_sql = f"INSERT INTO {CIVIL_TABLE} VALUES ({','.join('?' * len(CIVIL_COLUMNS))})"
        self.batch: list[tuple] = []
        self.next_id = 1
        self.scheduled: dict[int, list] = {}
        self.counts: Counter = Counter()

    def flush(self) -> None:
        if self.batch:
            self.db.executemany(self.insert_sql, self.batch)
            self.batch.clear()

    def _place(self, rec: dict) -> tuple[str, tuple[str, ...]]:
        """NOI_DANG_KY as the clerk wrote it, and which kinds of non-canonical naming it shows."""
        rng = self.rng
        c = rec["commune"]
        year = rec["year"]
        dname, renamed = self.namer.district_name(c.district_code, year)
        abbrev = rng.random() < self.p_abbrev
        with_d = rng.random() < (self.p_with_d_renamed if renamed else self.p_with_d)
        text = self.namer.commune_abbrev(c.name, rng) if abbrev else c.name
        if with_d:
            text += ", " + (self.namer.district_abbrev(c.district_code, year, rng) if abbrev else dname)
        if abbrev:
            return text, (("abbreviation", "pre_rename") if with_d and renamed else ("abbreviation",))
        return text, (("pre_rename",) if with_d and renamed else ())

    def _row(self, rec: dict, enc: str, id_value: str | None, name: str | None = None) -> tuple[tuple, str, tuple, bool, tuple]:
        rng = self.rng
        e = ENCODERS[enc]
        p = rec["person"]
        p2 = rec.get("person2")
        issue = rec["issue"]
        place, kinds = self._place(rec)
        style = self.style_pick(rng)
        ngay_dk = self.styles[style][issue - DATE_BASE]
        if style == "words":
            ngay_dk = e(ngay_dk)
        missing_code = rng.random() < self.p_missing
        signer = self.signers.get(rec["agency"].electronic_id, rng.random())
        if issue >= ORD_2010:  # entered when issued
            upd = (issue + int(rng.random() * 20), 25200 + int(rng.random() * 36000))
        else:  # typed in from the old books during a 2012-2015 campaign
            upd = (ORD_2012 + int(rng.random() * 1460), 25200 + int(rng.random() * 36000))
        if rng.random() < self.p_late:  # corrected in 2023-2025
            upd = (ORD_2023 + int(rng.random() * 1090), 25200 + int(rng.random() * 36000))
        if upd[0] > AS_OF_ORD:
            upd = (AS_OF_ORD, 82800)
        row = (
            None,
            rec["proc"],
            rec["number"],
            rec["book"],
            e(name if name is not None else p["name"]),
            e(p2["name"]) if p2 is not None else None,
            self.styles["dmy"][p["birth"] - DATE_BASE],
            e("Nam" if p["gender"] == "M" else "Nữ"),
            id_value,
            e(place),
            None if missing_code else str(rec["unit_code"]),
            str(rec["district_code"]),
            ngay_dk,
            e(signer),
            e(LATE_KS_NOTE) if rec["proc"] == "KS" and issue - p["birth"] > 60 else None,
            ts_iso(upd),
            rec["ky_so"],
            rec["file_dien_tu"],
        )
        return row, place, kinds, missing_code, upd

    def _emit(self, row: tuple) -> int:
        pk = self.next_id
        self.next_id = pk + 1
        self.batch.append((pk,) + row[1:])
        if len(self.batch) >= BATCH:
            self.flush()
        return pk

    # -- API -----------------------------------------------------------------------
    def add(self, rec: dict, gt: ResultGT, step: int) -> None:
        rng = self.rng
        counts = self.counts
        r = rng.random()
        enc = "tcvn3" if r < P_TCVN3 else "vni" if r < P_VNI else "nfd" if r < P_NFD else "none"
        p = rec["person"]
        value, problem = id_flaw(self.id_rng, p["pid"], p["pid_kind"], rec["proc"], self.ref)
        signed = self.signing(rec, gt, civil_copy_ref(rec))
        rec["ky_so"] = None if signed is None else "1" if signed else "0"
        rec["file_dien_tu"] = gt.e_copy_ref
        row, place, kinds, missing_code, upd = self._row(rec, enc, value)
        pk = self._emit(row)
        gt.appears.append(_CIVIL_APPEAR % (pk, ts_iso(upd)))
        gt.encoding = enc
        counts[ENC_KEYS[enc]] += 1
        if problem:
            gt.id_problem = id_problem_json("SO_GIAY_TO", problem, value)
            counts["id_" + problem] += 1
        if kinds:
            gt.old_unit_name = old_name_json(place, kinds, self.source)
            for k in kinds:
                counts["unit_name_" + k] += 1
        if missing_code:
            gt.missing_unit_code = True
            counts["missing_unit_code"] += 1
        if rng.random() < self.p_dup:
            when = step + 1 + int(rng.random() * DUP_WINDOW)
            self.scheduled.setdefault(when, []).append((rec, gt, value, upd))
            gt.open += 1
        if self.junk_rng.random() < self.p_junk:
            self._junk(rec)
        self.adig.maybe(rec, gt)

    def step(self, step: int) -> None:
        due = self.scheduled.pop(step, None)
        if due:
            for item in due:
                self._dup(*item)

    def drain(self) -> None:
        for step in sorted(self.scheduled):
            self.step(step)

    def _dup(self, rec: dict, gt: ResultGT, id_value: str | None, upd0: tuple[int, int]) -> None:
        """The same result entered again: a name variant, another encoding, a later UPDATED_AT."""
        rng = self.rng
        name, variant = _name_variant(rng, rec["person"]["name"])
        r = rng.random()
        enc = "tcvn3" if r < P_TCVN3 else "vni" if r < P_VNI else "nfd" if r < P_NFD else "none"
        if variant == "other_encoding":
            enc = _OTHER_ENCODING[gt.encoding]
        elif variant == "no_diacritics":
            enc = "none"
        row = self._row(rec, enc, id_value, name=name)[0]
        upd = cap_ts(ts_add(upd0, 1 + int(rng.random() * 400), int(rng.random() * 36000)))
        pk = self._emit(row[:15] + (ts_iso(upd),) + row[16:])
        gt.appears.append(_CIVIL_APPEAR_DUP % (pk, ts_iso(upd)))
        gt.dups.append(
            f'{{"source":"civil_status","table":"SO_HO_TICH","pk":{pk},"variant":"{variant}","encoding":"{enc}"}}'
        )
        gt.open -= 1
        self.counts["duplicate_rows"] += 1
        self.counts["duplicate_" + variant] += 1

    def _junk(self, rec: dict) -> None:
        """A row the pipeline must reject: empty, a test entry, or an impossible date."""
        rng = self.junk_rng
        r = rng.random()
        now = ts_iso(cap_ts(work_time(rng, min(AS_OF_ORD, rec["issue"] + 1))))
        d = str(rec["district_code"])
        if r < 0.35:
            reason = "empty_row"
            row = (None, rec["proc"], None, None, None, None, None, None, None, None, None, d, None, None, None, now,
                   None, None)
        elif r < 0.65:
            reason = "test_row"
            row = (None, rec["proc"], "0", "00", "TEST", None, "01/01/1900", "Nam", "000000000000", "TEST", None,
                   d, "01/01/2000", "admin", "nhap thu - xoa sau", now, None, None)  # fmt: skip
        else:
            reason = "invalid_date"
            g = "M" if rng.random() < 0.5 else "F"
            bad = ("31/02/", "30/02/", "00/00/", "32/13/")[int(rng.random() * 4)] + str(rec["year"])
            row = (None, rec["proc"], f"{rec['seq']}/{rec['year']}", rec["book"], self.names(rng, g), None,
                   "00/00/0000", "Nam" if g == "M" else "Nữ", cccd(rng, 87, g, 1980 + int(rng.random() * 20)),
                   rec["commune"].name, str(rec["unit_code"]), d, bad, None, None, now, None, None)  # fmt: skip
        pk = self._emit(row)
        self.counts["junk_rows"] += 1
        self.counts["junk_" + reason] += 1
        self.gt.bad_input({"source": self.source, "table": CIVIL_TABLE, "pk": pk, "reason": reason})

    def close(self) -> None:
        self.drain()
        self.flush()
        self.db.execute(f"CREATE INDEX IX_{CIVIL_TABLE}_UPDATED_AT ON {CIVIL_TABLE}(UPDATED_AT)")
        self.db.execute("COMMIT")
        self.db.close()
        c = self.counts
        c.update(self.signing.counts)
        c["true_rows"] = sum(v for k, v in c.items() if k.startswith("encoding_"))
        c["rows"] = self.next_id - 1


_P = RATES["civil_status"]
P_TCVN3 = _P["encoding_tcvn3"]
P_VNI = P_TCVN3 + _P["encoding_vni"]
P_NFD = P_VNI + _P["encoding_nfd"]
ENC_KEYS = {e: "encoding_" + e for e in ("none", "nfd", "tcvn3", "vni")}


# ================================================================ already digitized (CSV)

ADIG_COLUMNS = (
    "agency_electronic_id", "procedure_code", "so", "quyen_so", "ngay_dang_ky", "ho_ten",
    "external_ref", "source_system", "digitized_on",
)  # fmt: skip
ADIG_SYSTEM = "CSDL hộ tịch điện tử tỉnh Đồng Tháp (QĐ 589/QĐ-UBND-HC, 2024)"


class AlreadyDigitizedWriter:
    """already_digitized.csv: results another project (QĐ 589/QĐ-UBND-HC, 2024) digitized."""

    source = "already_digitized"

    def __init__(self, path: Path, seed: int, gt, names: NameMaker, ref: Reference) -> None:
        self.rng = stream(seed, "already_digitized")
        self.fh = path.open("w", encoding="utf-8", newline="")
        self.w = csv.writer(self.fh, lineterminator="\n")
        self.w.writerow(ADIG_COLUMNS)
        self.gt = gt
        self.names = names
        self.ref = ref
        self.n = 0
        self.p_overlap = RATES["already_digitized"]["civil_overlap"]
        self.p_external = RATES["already_digitized"]["external_only_per_civil_result"]
        self.counts: Counter = Counter()

    def _ref(self, year: int) -> str:
        self.n += 1
        return f"HTDT-87-{year}-{self.n:08d}"

    def _digitized_on(self) -> str:
        # The QĐ 589 project entered its records during 2024-2025.
        return fmt_date(ORD_2024 + int(self.rng.random() * 700), "iso")

    def maybe(self, rec: dict, gt: ResultGT) -> None:
        rng = self.rng
        if rng.random() < self.p_overlap:
            ref = self._ref(rec["year"])
            self.w.writerow((rec["agency"].electronic_id, rec["proc"], rec["number"], rec["book"],
                             fmt_date(rec["issue"], "iso"), rec["person"]["name"], ref, ADIG_SYSTEM,
                             self._digitized_on()))  # fmt: skip
            gt.already_digitized = ref
            gt.appears.append(f'{{"source":"already_digitized","external_ref":"{ref}"}}')
            self.counts["rows"] += 1
            self.counts["overlap_rows"] += 1
        if rng.random() < self.p_external:
            self._external_only()

    def _external_only(self) -> None:
        """A result digitized by the other project that none of our sources holds."""
        rng = self.rng
        c = self.ref.communes[int(rng.random() * len(self.ref.communes))]
        proc = ("KS", "KH", "KT")[int(rng.random() * 3)]
        year = 1995 + int(rng.random() * 27)
        issue = date(year, 1, 1).toordinal() + int(rng.random() * 360)
        num = f"{90000 + int(rng.random() * 9999)}/{year}"  # 90000+ is beyond any number our sources use
        name = self.names(rng, "M" if rng.random() < 0.5 else "F")
        book = f"{1 + int(rng.random() * 3):02d}"
        ref = self._ref(year)
        row = (c.agency.electronic_id, proc, num, book, fmt_date(issue, "iso"), name, ref, ADIG_SYSTEM, self._digitized_on())
        self.w.writerow(row)
        self.counts["rows"] += 1
        self.counts["external_only_rows"] += 1
        self.gt.write({
            "kind": "external_only", "source": self.source, "external_ref": ref,
            "procedure_code": proc, "agency_electronic_id": c.agency.electronic_id,
            "unit": {"era": "pre2025", "level": "commune", "code": str(c.code), "district_code": str(c.district_code)},
            "number": num, "book": book, "issue_date": row[4], "name": name,
        })  # fmt: skip

    def close(self) -> None:
        self.fh.close()


# ================================================================ household business (CSV + XLSX)

HKD_COLUMNS = (
    "STT", "Số GCN", "Ngày cấp", "Tên hộ kinh doanh", "Chủ hộ", "Giới tính", "Ngày sinh", "Số CCCD",
    "Mã số thuế", "Ngành nghề kinh doanh", "Địa chỉ", "Mã xã", "Cơ quan cấp", "Ghi chú",
)  # fmt: skip


def bad_mst(rng: random.Random, mst: str) -> str:
    """Same number with a wrong check digit (stdnum.vn.mst rejects it)."""
    base = mst[:9]
    for delta in (1, 2, 3, 4, 5, 6, 7, 8, 9):
        cand = base + str((int(mst[9]) + delta + int(rng.random() * 3)) % 10) + mst[10:]
        if not mst_is_valid(cand):
            return cand
    raise AssertionError("unreachable")


def _new_workbook():
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    wb.properties.creator = "tthc_dev.demo_data"
    ws = wb.create_sheet("DS_HKD")
    ws.append(list(HKD_COLUMNS))
    return wb, ws


def _save_workbook(wb, tmp_path: Path, final_path: Path) -> None:
    wb.save(tmp_path)
    normalize_zip(tmp_path, final_path)
    tmp_path.unlink()


class XlsxSink:
    """household_business.xlsx through openpyxl's write-only mode.

    openpyxl writes about 7k rows/s, so a large export is written by a helper process
    (``python -m tthc_dev.demo_data._xlsx_writer``) that receives the rows as JSON lines on
    its stdin while the generator goes on; a small one is written in-process. Both
    paths write the same bytes.
    """

    def __init__(self, path: Path, tmp_dir: Path, background: bool) -> None:
        self.path = path
        self.tmp = tmp_dir / "household_business.tmp.xlsx"
        self.proc = None
        self.wb = self.ws = None
        if background:
            import subprocess
            import sys

            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tthc_dev.demo_data._xlsx_writer", str(path), str(self.tmp)],
                stdin=subprocess.PIPE,
                env=child_env(),
            )
            self._dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        else:
            self.wb, self.ws = _new_workbook()

    def _send(self, payload: bytes) -> None:
        try:
            self.proc.stdin.write(payload)
        except BrokenPipeError:
            raise RuntimeError(f"the XLSX helper process died (exit code {self.proc.wait()})") from None

    def append(self, rows: list[tuple]) -> None:
        # Empty text is an absent cell, as in Excel's own files.
        rows = [[v if v != "" else None for v in row] for row in rows]
        if self.proc is not None:
            dumps = self._dumps
            self._send("".join(dumps(r) + "\n" for r in rows).encode("utf-8"))
        else:
            append = self.ws.append
            for row in rows:
                append(row)

    def abort(self) -> None:
        if self.proc is not None:
            self._send(b'"ABORT"\n')
            self.proc.stdin.close()
            self.proc.wait()
        self.wb = self.ws = None
        self.path.unlink(missing_ok=True)
        self.tmp.unlink(missing_ok=True)

    def close(self) -> None:
        if self.proc is not None:
            self.proc.stdin.close()
            if self.proc.wait() != 0:
                raise RuntimeError(f"the XLSX helper process failed (exit code {self.proc.returncode})")
        else:
            _save_workbook(self.wb, self.tmp, self.path)


class HouseholdBusinessWriter:
    source = "household_business"

    def __init__(self, csv_path: Path, xlsx_path: Path, seed: int, ref: Reference, gt, tmp_dir: Path) -> None:
        self.rng = stream(seed, "household_business")
        self.id_rng = stream(seed, "household_business:ids")
        self.junk_rng = stream(seed, "household_business:junk")
        self.ref = ref
        self.gt = gt
        self.namer = UnitNamer(ref)
        self.csv_path = csv_path
        self.xlsx_path = xlsx_path
        self.fh = csv_path.open("w", encoding="utf-8-sig", newline="")
        self.w = csv.writer(self.fh, lineterminator="\r\n")
        self.w.writerow(HKD_COLUMNS)
        self.tmp_dir = tmp_dir
        self.xlsx: XlsxSink | None = None
        self.xlsx_enabled = True
        self.xlsx_background = False
        self.batch: list[tuple] = []
        self.row_no = 0
        self.scheduled: dict[int, list] = {}
        self.counts: Counter = Counter()

    def _emit(self, row: list) -> int:
        self.row_no += 1
        self.batch.append(tuple(row))
        # Small batches keep the XLSX helper process busy without blocking on a full pipe.
        if len(self.batch) >= XLSX_BATCH:
            self.flush()
        return self.row_no

    def flush(self) -> None:
        if not self.batch:
            return
        self.w.writerows(self.batch)
        if self.xlsx_enabled:
            if self.xlsx is None:
                self.xlsx = XlsxSink(self.xlsx_path, self.tmp_dir, self.xlsx_background)
            if self.row_no > XLSX_MAX_ROWS:
                self.xlsx_enabled = False
                self.xlsx.abort()
            else:
                self.xlsx.append(self.batch)
        self.batch.clear()

    def _row(self, rec: dict, owner: str, mst_value: str, id_value: str | None) -> tuple[list, dict]:
        rng = self.rng
        p = rec["person"]
        year = rec["year"]
        missing_code = rng.random() < RATES["household_business"]["missing_unit_code"]
        address = rec["address"]
        dname, renamed = self.namer.district_name(rec["district_code"], year)
        old = None
        if renamed:
            address = address.replace(lc_first(self.ref.district(rec["district_code"]).name), lc_first(dname))
            old = old_name_json(address, ("pre_rename",), self.source)
        row = [
            None,
            rec["number"],
            fmt_date(rec["issue"], "dmy"),
            rec["business_name"],
            owner,
            "Nam" if p["gender"] == "M" else "Nữ",
            fmt_date(p["birth"], "dmy"),
            id_value,
            mst_value,
            rec["trade"],
            address,
            "" if missing_code else str(rec["commune"].code),
            self.namer.agency_name(rec["agency"], year),
            "",
        ]
        return row, {"missing_code": missing_code, "old_name": old}

    def add(self, rec: dict, gt: ResultGT, step: int) -> None:
        rng = self.rng
        rates = RATES["household_business"]
        p = rec["person"]
        id_value, problem = id_flaw(self.id_rng, p["pid"], p["pid_kind"], rec["proc"], self.ref)
        mst = rec["mst"]
        field = "Số CCCD"
        r = self.id_rng.random()
        if r < rates["bad_mst_checksum"]:
            mst_value, problem, field = bad_mst(self.id_rng, mst), "bad_mst_checksum", "Mã số thuế"
            id_value = p["pid"]
        elif r < rates["bad_mst_checksum"] + rates["mst_missing"]:
            mst_value, problem, field = "", "mst_missing", "Mã số thuế"
            id_value = p["pid"]
        elif r < rates["bad_mst_checksum"] + rates["mst_missing"] + rates["mst_branch_suffix"]:
            mst_value = f"{mst}-001"
        else:
            mst_value = mst
        row, info = self._row(rec, p["name"], mst_value, id_value)
        row[0] = self.row_no + 1
        n = self._emit(row)
        files = '"household_business.csv","household_business.xlsx"' if self.xlsx_enabled else '"household_business.csv"'
        gt.appears.append(f'{{"source":"household_business","row":{n},"files":[{files}]}}')
        self.counts["rows"] += 1
        self.counts["true_rows"] += 1
        if problem:
            gt.id_problem = id_problem_json(field, problem, mst_value if field == "Mã số thuế" else id_value)
            self.counts["id_" + problem] += 1
        if info["missing_code"]:
            gt.missing_unit_code = True
            self.counts["missing_unit_code"] += 1
        if info["old_name"]:
            gt.old_unit_name = info["old_name"]
            self.counts["unit_name_pre_rename"] += 1
        if rng.random() < rates["duplicate"]:
            when = step + 1 + int(rng.random() * DUP_WINDOW)
            self.scheduled.setdefault(when, []).append((rec, gt, mst_value, id_value))
            gt.open += 1
        if self.junk_rng.random() < rates["junk_row"]:
            n = self._emit(["", "", "", "", "", "", "", "", "", "", "", "", "", ""])
            self.counts["rows"] += 1
            self.counts["junk_rows"] += 1
            self.counts["junk_empty_row"] += 1
            self.gt.bad_input({"source": self.source, "row": n, "reason": "empty_row"})

    def step(self, step: int) -> None:
        due = self.scheduled.pop(step, None)
        if due:
            for rec, gt, mst_value, id_value in due:
                name, variant = _name_variant(self.rng, rec["person"]["name"])
                if variant == "other_encoding":
                    name, variant = unicodedata.normalize("NFD", name), "nfd"
                row, _ = self._row(rec, name, mst_value, id_value)
                row[0] = self.row_no + 1
                row[13] = "Cấp lại" if self.rng.random() < 0.5 else ""
                n = self._emit(row)
                gt.appears.append(f'{{"source":"household_business","row":{n},"duplicate":true}}')
                gt.dups.append(f'{{"source":"household_business","row":{n},"variant":"{variant}"}}')
                gt.open -= 1
                self.counts["rows"] += 1
                self.counts["duplicate_rows"] += 1
                self.counts[f"duplicate_{variant}"] += 1

    def close(self) -> None:
        for step in sorted(self.scheduled):
            self.step(step)
        total = self.row_no - self.counts["junk_rows"]
        n = self._emit(["", "", "", f"Tổng cộng: {total} hộ", "", "", "", "", "", "", "", "", "", ""])
        self.counts["rows"] += 1
        self.counts["junk_rows"] += 1
        self.counts["junk_summary_row"] += 1
        self.gt.bad_input({"source": self.source, "row": n, "reason": "summary_row"})
        self.flush()
        self.fh.close()
        if self.xlsx_enabled and self.row_no <= XLSX_MAX_ROWS:
            if self.xlsx is None:
                self.xlsx = XlsxSink(self.xlsx_path, self.tmp_dir, False)
            self.xlsx.close()
            self.counts["xlsx_rows"] = self.row_no
        else:
            self.counts["xlsx_rows"] = 0
            self.xlsx_path.unlink(missing_ok=True)


def normalize_zip(src: Path, dst: Path) -> None:
    """Rewrite an OOXML zip with fixed timestamps and document dates (byte-reproducible)."""
    import re

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            out = zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_TIME)
            out.compress_type = zipfile.ZIP_DEFLATED
            out.external_attr = 0o644 << 16
            if info.filename == "docProps/core.xml":
                xml = zin.read(info).decode("utf-8")
                xml = re.sub(r"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)", rf"\g<1>{FIXED_DOC_TIME}\g<3>", xml)
                zout.writestr(out, xml.encode("utf-8"))
                continue
            with zin.open(info) as fin, zout.open(out, "w") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)


# ================================================================ construction permits (2nd engine)

GPXD_TABLE = "giay_phep"
GPXD_COLUMNS = (
    ("id", "BIGINT", "INTEGER"),
    ("so_giay_phep", "VARCHAR(40)", "TEXT"),
    ("ngay_cap", "DATE", "TEXT"),
    ("loai_cong_trinh", "VARCHAR(80)", "TEXT"),
    ("chu_dau_tu", "VARCHAR(120)", "TEXT"),
    ("cccd_chu_dau_tu", "VARCHAR(20)", "TEXT"),
    ("dia_chi_cong_trinh", "VARCHAR(255)", "TEXT"),
    ("ma_xa", "VARCHAR(5)", "TEXT"),
    ("ma_huyen", "VARCHAR(3)", "TEXT"),
    ("co_quan_cap", "VARCHAR(120)", "TEXT"),
    ("dien_tich_xd", "DECIMAL(8,1)", "REAL"),
    ("so_tang", "INTEGER", "INTEGER"),
    ("so_lan_gia_han", "INTEGER", "INTEGER"),
    ("ngay_gia_han_cuoi", "DATE", "TEXT"),
    ("trang_thai", "VARCHAR(20)", "TEXT"),
    ("last_modified", "TIMESTAMP", "TEXT"),
    ("ky_so", "INTEGER", "INTEGER"),
    ("file_dien_tu", "VARCHAR(160)", "TEXT"),
)
BLR_TABLE = "giay_phep_ban_le_ruou"
BLR_COLUMNS = (
    ("id", "BIGINT", "INTEGER"),
    ("so_giay_phep", "VARCHAR(40)", "TEXT"),
    ("ngay_cap", "DATE", "TEXT"),
    ("ngay_het_han", "DATE", "TEXT"),
    ("ten_co_so", "VARCHAR(160)", "TEXT"),
    ("chu_co_so", "VARCHAR(120)", "TEXT"),
    ("cccd_chu_co_so", "VARCHAR(20)", "TEXT"),
    ("ma_so_thue", "VARCHAR(14)", "TEXT"),
    ("dia_chi", "VARCHAR(255)", "TEXT"),
    ("ma_xa", "VARCHAR(5)", "TEXT"),
    ("ma_huyen", "VARCHAR(3)", "TEXT"),
    ("co_quan_cap", "VARCHAR(120)", "TEXT"),
    ("trang_thai", "VARCHAR(20)", "TEXT"),
    ("last_modified", "TIMESTAMP", "TEXT"),
    ("ky_so", "INTEGER", "INTEGER"),
    ("file_dien_tu", "VARCHAR(160)", "TEXT"),
)
PERMIT_TABLES = {GPXD_TABLE: GPXD_COLUMNS, BLR_TABLE: BLR_COLUMNS}
PG_SCHEMA = "xaydung"


def canon(v) -> str:
    """Canonical text of a value for the row digest (same for SQLite, PostgreSQL, MariaDB)."""
    if v is None:
        return "\\N"
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, date):
        return v.isoformat()
    return str(v)


def row_digest_update(h, row) -> None:
    h.update(("\x1f".join(canon(v) for v in row) + "\n").encode("utf-8"))


class _SqliteBackend:
    kind = "sqlite"

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.executescript("PRAGMA page_size=4096; PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;")
        for table, cols in PERMIT_TABLES.items():
            body = ",\n  ".join(f"{n} {t}{' PRIMARY KEY' if n == 'id' else ''}" for n, _, t in cols)
            self.db.execute(f"CREATE TABLE {table} (\n  {body}\n)")
        self.db.execute("BEGIN")

    def insert(self, table: str, rows: list[tuple]) -> None:
        cols = PERMIT_TABLES[table]
        self.db.executemany(f"INSERT INTO {table} VALUES ({','.join('?' * len(cols))})", rows)

    def close(self) -> None:
        self.db.execute("COMMIT")
        self.db.close()


class _PostgresBackend:
    kind = "postgresql"

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine

        self.engine = create_engine(url)
        self.conn = self.engine.raw_connection()
        cur = self.conn.cursor()
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {PG_SCHEMA}")
        for table, cols in PERMIT_TABLES.items():
            cur.execute(f"DROP TABLE IF EXISTS {PG_SCHEMA}.{table}")
            body = ", ".join(f"{n} {t}{' PRIMARY KEY' if n == 'id' else ''}" for n, t, _ in cols)
            cur.execute(f"CREATE TABLE {PG_SCHEMA}.{table} ({body})")
        self.conn.commit()
        self.cur = cur

    @staticmethod
    def _esc(v) -> str:
        if v is None:
            return "\\N"
        s = str(v)
        if "\\" in s or "\t" in s or "\n" in s or "\r" in s:
            s = s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
        return s

    def insert(self, table: str, rows: list[tuple]) -> None:
        esc = self._esc
        buf = io.StringIO("".join("\t".join(esc(v) for v in row) + "\n" for row in rows))
        cols = ", ".join(n for n, _, _ in PERMIT_TABLES[table])
        self.cur.copy_expert(f"COPY {PG_SCHEMA}.{table} ({cols}) FROM STDIN", buf)

    def close(self) -> None:
        self.conn.commit()
        self.cur.close()
        self.conn.close()
        self.engine.dispose()


class _MariaBackend:
    kind = "mariadb"

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine

        self.engine = create_engine(url)
        self.conn = self.engine.raw_connection()
        cur = self.conn.cursor()
        for table, cols in PERMIT_TABLES.items():
            cur.execute(f"DROP TABLE IF EXISTS {table}")
            body = ", ".join(
                f"{n} {'DATETIME' if t == 'TIMESTAMP' else t}{' PRIMARY KEY' if n == 'id' else ''}" for n, t, _ in cols
            )
            cur.execute(f"CREATE TABLE {table} ({body}) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci")
        self.conn.commit()
        self.cur = cur

    def insert(self, table: str, rows: list[tuple]) -> None:
        cols = PERMIT_TABLES[table]
        sql = f"INSERT INTO {table} ({', '.join(n for n, _, _ in cols)}) VALUES ({', '.join(['%s'] * len(cols))})"
        for i in range(0, len(rows), 2000):
            self.cur.executemany(sql, rows[i : i + 2000])

    def close(self) -> None:
        self.conn.commit()
        self.cur.close()
        self.conn.close()
        self.engine.dispose()


def permits_backend(url: str | None, sqlite_path: Path):
    if not url:
        return _SqliteBackend(sqlite_path)
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.get_backend_name() == "postgresql":
        return _PostgresBackend(url)
    if u.get_backend_name() in ("mysql", "mariadb"):
        return _MariaBackend(url)
    raise ValueError(f"unsupported permits URL backend: {u.get_backend_name()} (use postgresql+psycopg2 or mysql+pymysql)")


def permits_table_digests(url_or_path: str | Path) -> dict[str, dict]:
    """Read the permit tables back and digest their rows in primary-key order.

    ``url_or_path`` is a SQLAlchemy URL or the path of ``construction_permits.sqlite``.
    Returns ``{table: {"rows": n, "sha256": hex}}``, comparable with manifest.json.
    """
    out: dict[str, dict] = {}
    if isinstance(url_or_path, Path) or "://" not in str(url_or_path):
        db = sqlite3.connect(str(url_or_path))
        try:
            for table, cols in PERMIT_TABLES.items():
                h = hashlib.sha256()
                n = 0
                for row in db.execute(f"SELECT {', '.join(c for c, _, _ in cols)} FROM {table} ORDER BY id"):
                    row_digest_update(h, row)
                    n += 1
                out[table] = {"rows": n, "sha256": h.hexdigest()}
        finally:
            db.close()
        return out
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    url = str(url_or_path)
    prefix = f"{PG_SCHEMA}." if make_url(url).get_backend_name() == "postgresql" else ""
    engine = create_engine(url)
    try:
        conn = engine.raw_connection()
        try:
            cur = conn.cursor()
            for table, cols in PERMIT_TABLES.items():
                h = hashlib.sha256()
                cur.execute(f"SELECT {', '.join(c for c, _, _ in cols)} FROM {prefix}{table} ORDER BY id")
                n = 0
                while True:
                    chunk = cur.fetchmany(10_000)
                    if not chunk:
                        break
                    for row in chunk:
                        row_digest_update(h, row)
                    n += len(chunk)
                out[table] = {"rows": n, "sha256": h.hexdigest()}
            cur.close()
        finally:
            conn.close()
    finally:
        engine.dispose()
    return out


class PermitsWriter:
    source = "construction_permits"

    def __init__(self, url: str | None, sqlite_path: Path, seed: int, ref: Reference, gt) -> None:
        self.rng = stream(seed, "permits")
        self.id_rng = stream(seed, "permits:ids")
        self.junk_rng = stream(seed, "permits:junk")
        # Its own stream, not the civil half's: the two halves may run in separate processes.
        self.signing = Signing(seed, "signing:permits")
        self.ref = ref
        self.gt = gt
        self.namer = UnitNamer(ref)
        self.backend = permits_backend(url, sqlite_path)
        self.batches: dict[str, list[tuple]] = {t: [] for t in PERMIT_TABLES}
        self.next_id = {t: 1 for t in PERMIT_TABLES}
        self.hashes = {t: hashlib.sha256() for t in PERMIT_TABLES}
        self.scheduled: dict[int, list] = {}
        self.counts: Counter = Counter()

    @property
    def kind(self) -> str:
        return self.backend.kind

    def _emit(self, table: str, row: list) -> int:
        pk = self.next_id[table]
        self.next_id[table] = pk + 1
        row[0] = pk
        t = tuple(row)
        row_digest_update(self.hashes[table], t)
        b = self.batches[table]
        b.append(t)
        if len(b) >= BATCH:
            self.backend.insert(table, b)
            b.clear()
        self.counts[f"{table}_rows"] += 1
        return pk

    def _row(self, rec: dict, owner: str, id_value: str | None, missing_code: bool, modified: tuple[int, int]) -> tuple[str, list]:
        year = rec["year"]
        agency = self.namer.agency_name(rec["agency"], year)
        ma_xa = None if missing_code else str(rec["commune"].code)
        issue = d2s_(rec["issue"])
        if rec["proc"] == "GPXD":
            ext = rec["extensions"]
            last_ext = None
            if ext:
                last_ext = d2s_(rec["issue"] + 330 + 365 * (ext - 1) + int(self.rng.random() * 30))
            status = "THU_HOI" if rec["revoked"] else ("DA_GIA_HAN" if ext else "DA_CAP")
            return GPXD_TABLE, [
                None, rec["number"], issue, "Nhà ở riêng lẻ", owner, id_value, rec["address"], ma_xa,
                str(rec["district_code"]), agency, rec["area"], rec["floors"], ext, last_ext, status, ts(modified),
                rec["ky_so"], rec["file_dien_tu"],
            ]  # fmt: skip
        status = "THU_HOI" if rec["revoked"] else "HIEU_LUC"
        return BLR_TABLE, [
            None, rec["number"], issue, d2s_(rec["valid_until"]), rec["business_name"], owner, id_value, rec["mst"],
            rec["address"], ma_xa, str(rec["district_code"]), agency, status, ts(modified),
            rec["ky_so"], rec["file_dien_tu"],
        ]  # fmt: skip

    def add(self, rec: dict, gt: ResultGT, step: int) -> None:
        rng = self.rng
        p = rec["person"]
        id_value, problem = id_flaw(self.id_rng, p["pid"], p["pid_kind"], rec["proc"], self.ref)
        signed = self.signing(rec, gt, permit_copy_ref(rec))
        rec["ky_so"] = None if signed is None else int(signed)
        rec["file_dien_tu"] = gt.e_copy_ref
        missing_code = rng.random() < RATES["permits"]["missing_unit_code"]
        modified = work_time(rng, rec["issue"] + int(rng.random() * 5))
        if rec["revoked"] or rec["extensions"]:
            modified = work_time(rng, rec["issue"] + 200 + int(rng.random() * 600))
        modified = cap_ts(modified)
        table, row = self._row(rec, p["name"], id_value, missing_code, modified)
        pk = self._emit(table, row)
        gt.appears.append(f'{{"source":"construction_permits","table":"{table}","pk":{pk},"recorded_at":"{ts_iso(modified)}"}}')
        self.counts["true_rows"] += 1
        if problem:
            col = "cccd_chu_dau_tu" if table == GPXD_TABLE else "cccd_chu_co_so"
            gt.id_problem = id_problem_json(col, problem, id_value)
            self.counts["id_" + problem] += 1
        if missing_code:
            gt.missing_unit_code = True
            self.counts["missing_unit_code"] += 1
        if rec["revoked"]:
            self.counts[f"revoked_{rec['proc']}"] += 1
        if rng.random() < RATES["permits"]["duplicate"]:
            when = step + 1 + int(rng.random() * DUP_WINDOW)
            self.scheduled.setdefault(when, []).append((rec, gt, id_value, missing_code, modified))
            gt.open += 1
        if self.junk_rng.random() < RATES["permits"]["junk_row"]:
            self._junk(rec)

    def _junk(self, rec: dict) -> None:
        jr = self.junk_rng
        modified = ts(cap_ts(work_time(jr, rec["issue"] + 1)))
        if rec["proc"] == "GPXD":
            table = GPXD_TABLE
            row = [None, None, d2s_(rec["issue"]), "Nhà ở riêng lẻ", "TEST", None, "test", None,
                   str(rec["district_code"]), "admin", "0.0", 0, 0, None, "NHAP", modified, None, None]  # fmt: skip
        else:
            table = BLR_TABLE
            row = [None, None, d2s_(rec["issue"]), None, "TEST", "TEST", None, None, "test", None,
                   str(rec["district_code"]), "admin", "NHAP", modified, None, None]  # fmt: skip
        pk = self._emit(table, row)
        self.counts["junk_rows"] += 1
        self.gt.bad_input({"source": self.source, "table": table, "pk": pk, "reason": "test_row"})

    def step(self, step: int) -> None:
        due = self.scheduled.pop(step, None)
        if due:
            for rec, gt, id_value, missing_code, modified in due:
                name, variant = _name_variant(self.rng, rec["person"]["name"])
                if variant == "other_encoding":
                    name, variant = unicodedata.normalize("NFD", name), "nfd"
                modified2 = cap_ts(ts_add(modified, 1 + int(self.rng.random() * 90)))
                table, row = self._row(rec, name, id_value, missing_code, modified2)
                pk = self._emit(table, row)
                gt.appears.append(f'{{"source":"construction_permits","table":"{table}","pk":{pk},'
                                  f'"recorded_at":"{ts_iso(modified2)}","duplicate":true}}')
                gt.dups.append(f'{{"source":"construction_permits","table":"{table}","pk":{pk},"variant":"{variant}"}}')
                gt.open -= 1
                self.counts["duplicate_rows"] += 1
                self.counts[f"duplicate_{variant}"] += 1

    def close(self) -> dict:
        for step in sorted(self.scheduled):
            self.step(step)
        for table, b in self.batches.items():
            if b:
                self.backend.insert(table, b)
                b.clear()
        self.backend.close()
        self.counts.update(self.signing.counts)
        return {t: {"rows": self.next_id[t] - 1, "sha256": h.hexdigest()} for t, h in self.hashes.items()}


def d2s_(o: int | None) -> str | None:
    return None if o is None else DateStrings.get().iso[o - DATE_BASE]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


__all__ = [
    "RATES",
    "AlreadyDigitizedWriter",
    "CivilStatusWriter",
    "HouseholdBusinessWriter",
    "PermitsWriter",
    "Signers",
    "Signing",
    "UnitNamer",
    "file_sha256",
    "permits_table_digests",
    "stream",
]
