"""Canonical ("true") results and the people, identifiers and dates in them.

A *result* is one document an agency issued (a birth certificate, a construction
permit ...). :class:`ResultFactory` makes them one at a time, with canonical
values only: Unicode NFC names, GSO unit codes, ISO dates, valid identifiers. The
source writers then put each result into its legacy source with that source's own
flaws (encodings, missing codes, bad IDs, duplicates ...), drawing from their own
random streams.
"""

from __future__ import annotations

import bisect
import calendar
import itertools
import random
import unicodedata
from datetime import date

from stdnum.vn.mst import calc_check_digit

from tthc_dev.demo_data.reference import COMMUNE_PROCS, DEPARTMENT_PROCS, PROVINCE_CODE, Reference

AS_OF = date(2025, 12, 31)  # status ("valid", "expired", "revoked") is as of this day
AS_OF_ORD = AS_OF.toordinal()
# The pre-2025 units (and their agency IDs in seeds/agencies.csv) stopped issuing when the
# district level was abolished on 1/7/2025, so no result is issued after this day.
LAST_ISSUE = date(2025, 6, 30)
LAST_ISSUE_ORD = LAST_ISSUE.toordinal()
SCOPE_CUTOFF = date(2021, 12, 31)
SA_DEC_CUTOFF = date(2022, 12, 31)
SA_DEC_DISTRICT = 867
FIRST_YEAR = 1995
LAST_YEAR = 2025
YEARS = list(range(FIRST_YEAR, LAST_YEAR + 1))
YEAR_START = {y: date(y, 1, 1).toordinal() for y in range(1900, 2027)}
BOOK_SIZE = 200  # entries per civil-status book (quyển)

# Mix of procedures among the results in the structured sources.
PROCEDURE_MIX = {"KS": 0.42, "KH": 0.12, "KT": 0.08, "XNHN": 0.08, "HKD": 0.14, "GPXD": 0.11, "BLR": 0.05}
# First year each procedure appears in the legacy sources, and how much heavier each
# later year is (linear ramp); 2022-2025 get `recent` x the 2021 weight. Tuned so that
# about 85% of results are issued in 2021 or earlier.
YEAR_PROFILE = {
    "KS": (1995, 0.10, 0.30),
    "KH": (1995, 0.10, 0.30),
    "KT": (1995, 0.10, 0.30),
    "XNHN": (2000, 0.15, 0.35),
    "HKD": (1998, 0.15, 0.35),
    "GPXD": (2005, 0.25, 0.45),
    "BLR": (2018, 0.20, 0.45),
    "ATTP": (2012, 0.20, 0.40),
    "DKDN": (2005, 0.20, 0.40),
}
GPXD_EXTENSIONS = (0.80, 0.14, 0.06)  # P(0, 1, 2 extensions)
REVOKED = {"GPXD": 0.04, "BLR": 0.03}
CCCD_HOME_SHARE = 0.85  # adults whose CCCD province is 087

_TONES = "\u0300\u0301\u0303\u0309\u0323"
_STRIP_MARKS = dict.fromkeys(map(ord, "\u0300\u0301\u0302\u0303\u0306\u0309\u031b\u0323"))


def strip_diacritics(text: str) -> str:
    """'Nguyễn Đức' -> 'Nguyen Duc' (what a clerk without a Vietnamese keyboard typed)."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).translate(_STRIP_MARKS)).replace("đ", "d").replace("Đ", "D")


DATE_BASE = date(1900, 1, 1).toordinal()
DATE_END = date(2032, 1, 1).toordinal()


class DateStrings:
    """Every day 1900-2031 pre-formatted, indexed by ordinal - DATE_BASE (formatting is a hot path)."""

    _instance: DateStrings | None = None

    def __init__(self) -> None:
        days = [date.fromordinal(o) for o in range(DATE_BASE, DATE_END)]
        self.year = [d.year for d in days]
        self.iso = [d.isoformat() for d in days]
        self.dmy = [f"{d.day:02d}/{d.month:02d}/{d.year}" for d in days]
        self.styles = {
            "iso": self.iso,
            "dmy": self.dmy,
            "dmyy": [f"{d.day}/{d.month}/{d.year % 100:02d}" for d in days],
            "dmy_dash": [f"{d.day:02d}-{d.month:02d}-{d.year}" for d in days],
            "words": [f"ngày {d.day} tháng {d.month} năm {d.year}" for d in days],
        }

    @classmethod
    def get(cls) -> DateStrings:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance


def lc_first(s: str) -> str:
    """'Thành phố Sa Đéc' -> 'thành phố Sa Đéc' (as written inside an address)."""
    return s[:1].lower() + s[1:]


def d2s(o: int) -> str:
    """Ordinal -> ISO date."""
    return DateStrings.get().iso[o - DATE_BASE]


def add_months(o: int, months: int) -> int:
    d = date.fromordinal(o)
    y, m0 = divmod(d.month - 1 + months, 12)
    y += d.year
    day = min(d.day, calendar.monthrange(y, m0 + 1)[1])
    return date(y, m0 + 1, day).toordinal()


def _cum(weights):
    return list(itertools.accumulate(weights))


class Picker:
    """Weighted choice with one rng.random() draw (cheaper than random.choices)."""

    __slots__ = ("items", "cum", "total")

    def __init__(self, items, weights=None):
        self.items = list(items)
        w = list(weights) if weights is not None else [1.0] * len(self.items)
        self.cum = _cum(w)
        self.total = self.cum[-1]

    def __call__(self, rng: random.Random):
        return self.items[bisect.bisect_right(self.cum, rng.random() * self.total)]


class NameMaker:
    def __init__(self, names: dict) -> None:
        fam = names["family_names"]
        self.family = Picker(fam.keys(), fam.values())
        self.middle = {"M": names["middle_names"]["male"], "F": names["middle_names"]["female"]}
        self.middle2 = {g: [m for m in v if m not in ("Văn", "Thị")] for g, v in self.middle.items()}
        self.given = {"M": names["given_names"]["male"], "F": names["given_names"]["female"]}

    def __call__(self, rng: random.Random, g: str) -> str:
        rnd = rng.random
        fam = self.family
        mids = self.middle[g]
        given = self.given[g]
        family = fam.items[bisect.bisect_right(fam.cum, rnd() * fam.total)]
        if rnd() < (0.25 if g == "F" else 0.10):
            m2 = self.middle2[g]
            return f"{family} {mids[int(rnd() * len(mids))]} {m2[int(rnd() * len(m2))]} {given[int(rnd() * len(given))]}"
        return f"{family} {mids[int(rnd() * len(mids))]} {given[int(rnd() * len(given))]}"


def cccd(rng: random.Random, province: int, gender: str, birth_year: int) -> str:
    """12-digit personal ID: province (3) + century/gender (1) + yy (2) + 6 random digits."""
    cg = (0 if birth_year < 2000 else 2) + (1 if gender == "F" else 0)
    return f"{province:03d}{cg}{birth_year % 100:02d}{int(rng.random() * 1_000_000):06d}"


_MST_WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)  # stdnum.vn.mst.calc_check_digit's weights


def mst_personal(rng: random.Random) -> str:
    """A valid 10-digit personal tax code (starts with 8), check digit per stdnum.vn.mst."""
    while True:
        body = f"8{int(rng.random() * 100_000_000):08d}"
        check = 10 - sum(w * int(n) for w, n in zip(_MST_WEIGHTS, body)) % 11
        if check < 10:  # (check 10 is impossible: draw again)
            return f"{body}{check}"


def mst_enterprise(rng: random.Random) -> str:
    """A valid 10-digit enterprise code starting with 14 (assumed: Đồng Tháp's tax-office prefix)."""
    while True:
        body = f"14{int(rng.random() * 10_000_000):07d}"
        check = calc_check_digit(body)
        if len(check) == 1:
            return body + check


class ResultFactory:
    """Makes canonical results. One random stream per factory."""

    def __init__(self, ref: Reference, rng: random.Random, mix: dict[str, float] | None = None, number_gap: int = 0) -> None:
        self.ref = ref
        self.rng = rng
        # Our sources hold a sample of each book: consecutive results are number_gap apart on average.
        self.gap = max(0, 2 * number_gap - 1)
        mix = mix or PROCEDURE_MIX
        self.proc_pick = Picker(mix.keys(), mix.values())
        self.names = NameMaker(ref.names)
        self.communes = ref.communes
        self.districts = ref.districts
        self.counters: dict[tuple[str, str, int], int] = {}
        self.year_pick = {p: self._year_picker(*prof) for p, prof in YEAR_PROFILE.items()}
        self.other_prov = Picker(ref.other_province_codes, ref.other_province_weights)
        biz = ref.names["business"]
        self.biz_kinds = biz["kinds"]
        self.biz_fancy = biz["fancy"]
        self.alcohol_kinds = [k for k in self.biz_kinds if "rượu" in k["trade"]] or self.biz_kinds
        self.ent = ref.names["enterprise"]
        self.streets = ref.places["streets"]
        self.hamlets = ref.places["hamlets"]
        self.months = {
            code: (None, 0) if p.is_permanent else (p.validity_months, p.extension_months or 0)
            for code, p in ref.procedures.items()
        }
        self.year_of = DateStrings.get().year
        self.province_lc = lc_first(ref.province_name)
        self.district_lc = {d.code: lc_first(d.name) for d in ref.districts}

    @staticmethod
    def _year_picker(first: int, ramp: float, recent: float) -> Picker:
        years, weights = [], []
        w2021 = 1 + ramp * (2021 - first)
        for y in YEARS:
            if y < first:
                continue
            years.append(y)
            w = 1 + ramp * (y - first) if y <= 2021 else recent * w2021
            if y == LAST_ISSUE.year:
                w *= (LAST_ISSUE_ORD + 1 - YEAR_START[y]) / 365  # only the first half of 2025
            weights.append(w)
        return Picker(years, weights)

    # -- small helpers -------------------------------------------------------------
    def issue_date(self, proc: str) -> tuple[int, int]:
        rnd = self.rng.random
        yp = self.year_pick[proc]
        y = yp.items[bisect.bisect_right(yp.cum, rnd() * yp.total)]
        start = YEAR_START[y]
        days = min(YEAR_START[y + 1], LAST_ISSUE_ORD + 1) - start
        o = start + int(rnd() * days)
        if o % 7 == 0:  # date.toordinal() % 7 == 0 is a Sunday: move to Friday, or Monday at year start
            o = o - 2 if o - 2 >= start else o + 1
        return o, y

    def next_number(self, agency_eid: str, proc: str, year: int) -> int:
        key = (agency_eid, proc, year)
        seq = self.counters.get(key, 0) + 1 + int(self.rng.random() * self.gap)
        self.counters[key] = seq
        return seq

    def person(self, gender: str | None, birth_lo: int, birth_hi: int, issue_year: int, home: bool = False) -> dict:
        rnd = self.rng.random
        g = gender or ("M" if rnd() < 0.5 else "F")
        birth = birth_lo + int(rnd() * max(1, birth_hi - birth_lo))
        if home:
            prov = PROVINCE_CODE
            p_cmnd = 0.0
        else:
            prov = PROVINCE_CODE if rnd() < CCCD_HOME_SHARE else self.other_prov(self.rng)
            p_cmnd = 0.55 if issue_year < 2016 else 0.20 if issue_year < 2021 else 0.03
        if rnd() < p_cmnd:
            pid = f"{10_000_000 + int(rnd() * 390_000_000):09d}"
            kind = "cmnd"
        else:
            by = self.year_of[birth - DATE_BASE]
            cg = (0 if by < 2000 else 2) + (1 if g == "F" else 0)
            pid = f"{prov:03d}{cg}{by % 100:02d}{int(rnd() * 1_000_000):06d}"
            kind = "cccd"
        return {"name": self.names(self.rng, g), "gender": g, "birth": birth, "pid": pid, "pid_kind": kind}

    def address(self, commune) -> str:
        rng = self.rng
        if commune.name.startswith("Phường"):
            head = f"Số {1 + int(rng.random() * 250)}, đường {self.streets[int(rng.random() * len(self.streets))]}"
        else:
            head = self.hamlets[int(rng.random() * len(self.hamlets))]
        return f"{head}, {commune.name}, {self.district_lc[commune.district_code]}, {self.province_lc}"

    def validity_end(self, proc: str, issue: int, extensions: int = 0) -> int | None:
        months, ext_months = self.months[proc]
        if months is None:
            return None
        return add_months(issue, months + extensions * ext_months) - 1

    # -- results -------------------------------------------------------------------
    def make(self, rid: int, proc: str | None = None) -> dict:
        rng = self.rng
        if proc is None:
            pp = self.proc_pick
            proc = pp.items[bisect.bisect_right(pp.cum, rng.random() * pp.total)]
        issue, year = self.issue_date(proc)
        rec: dict = {"rid": rid, "proc": proc, "issue": issue, "year": year, "revoked": False, "extensions": 0}
        if proc in COMMUNE_PROCS:
            c = self.communes[int(rng.random() * len(self.communes))]
            ag = c.agency
            rec["level"] = "commune"
            rec["unit_code"] = c.code
            rec["district_code"] = c.district_code
        elif proc in DEPARTMENT_PROCS:
            codes = DEPARTMENT_PROCS[proc]
            ag = self.ref.departments[codes[int(rng.random() * len(codes))]]
            c = self.communes[int(rng.random() * len(self.communes))]
            rec["level"] = "province"
            rec["unit_code"] = PROVINCE_CODE
            rec["district_code"] = None
        else:
            d = self.districts[int(rng.random() * len(self.districts))]
            ag = d.agency
            c = d.communes[int(rng.random() * len(d.communes))]
            rec["level"] = "district"
            rec["unit_code"] = d.code
            rec["district_code"] = d.code
        rec["commune"] = c
        rec["agency"] = ag
        seq = self.next_number(ag.electronic_id, proc, year)
        rec["seq"] = seq
        rec["book"] = None
        ys = YEAR_START
        if proc == "KS":
            late = rng.random() < 0.05
            back = int(rng.random() * (365 * 15 if late else 60))
            rec["person"] = self.person(None, issue - back - 1, issue - back, year, home=True)
        elif proc == "KH":
            rec["person"] = self.person("M", ys[year - 40], ys[year - 20], year)
            rec["person2"] = self.person("F", ys[year - 38], ys[year - 18], year)
        elif proc == "KT":
            rec["person"] = self.person(None, ys[1915], ys[max(1916, year - 20)], year)
        elif proc == "XNHN":
            rec["person"] = self.person(None, ys[year - 60], ys[year - 18], year)
        else:
            rec["person"] = self.person(None, ys[year - 65], ys[year - 22], year)
        if proc in COMMUNE_PROCS:
            rec["number"] = f"{seq}/{year}"
            rec["book"] = f"{(seq - 1) // BOOK_SIZE + 1:02d}"
        elif proc == "HKD":
            kind = self.biz_kinds[int(rng.random() * len(self.biz_kinds))]
            rec["number"] = f"{seq}/{year}/DKHKD"
            rec["business_name"] = self._biz_name(kind, rec["person"]["name"])
            rec["trade"] = kind["trade"]
            rec["mst"] = mst_personal(rng)
            rec["address"] = self.address(c)
        elif proc == "GPXD":
            rec["number"] = f"{seq}/{year}/GPXD"
            rec["address"] = self.address(c)
            rec["area"] = f"{40 + int(rng.random() * 2600) / 10:.1f}"
            rec["floors"] = 1 + int(rng.random() * 4)
            r = rng.random()
            rec["extensions"] = 0 if r < GPXD_EXTENSIONS[0] else 1 if r < GPXD_EXTENSIONS[0] + GPXD_EXTENSIONS[1] else 2
            rec["revoked"] = rng.random() < REVOKED["GPXD"]
        elif proc == "BLR":
            kind = self.alcohol_kinds[int(rng.random() * len(self.alcohol_kinds))]
            rec["number"] = f"{seq}/{year}/GPBLR"
            rec["business_name"] = self._biz_name(kind, rec["person"]["name"])
            rec["mst"] = mst_personal(rng)
            rec["address"] = self.address(c)
            rec["revoked"] = rng.random() < REVOKED["BLR"]
        elif proc == "ATTP":
            kind = self.biz_kinds[int(rng.random() * len(self.biz_kinds))]
            rec["number"] = f"{seq}/{year}/ATTP-{ag.code}"
            rec["business_name"] = self._biz_name(kind, rec["person"]["name"])
            rec["address"] = self.address(c)
        elif proc == "DKDN":
            forms, trades = self.ent["forms"], self.ent["trades"]
            fancy = self.biz_fancy[int(rng.random() * len(self.biz_fancy))]
            rec["mst"] = mst_enterprise(rng)
            rec["number"] = rec["mst"]
            rec["business_name"] = f"{forms[int(rng.random() * len(forms))]} {trades[int(rng.random() * len(trades))]} {fancy}"
            rec["address"] = self.address(c)
        end = self.validity_end(proc, issue, rec["extensions"])
        rec["valid_until"] = end
        if rec["revoked"]:
            status = "revoked"
        elif end is not None and end < AS_OF_ORD:
            status = "expired"
        else:
            status = "valid"
        rec["status"] = status
        return rec

    def _biz_name(self, kind: dict, owner: str) -> str:
        rng = self.rng
        if rng.random() < 0.5:
            return f"{kind['kind']} {self.biz_fancy[int(rng.random() * len(self.biz_fancy))]}"
        return f"{kind['kind']} {owner.rsplit(' ', 1)[-1]}"
