"""Orchestration of the demo-data generator. See README.md beside this file."""

from __future__ import annotations

import csv
import gc
import json
import logging
import os
import shutil
import time
from bisect import bisect_right
from collections import Counter, deque
from datetime import date
from pathlib import Path

from tthc_dev.demo_data.e_copies import write_e_copies
from tthc_dev.demo_data.gt import GroundTruthWriter, HeadRenderer, ResultGT
from tthc_dev.demo_data.records import AS_OF, LAST_ISSUE, PROCEDURE_MIX, SA_DEC_CUTOFF, SCOPE_CUTOFF, NameMaker, Picker, ResultFactory
from tthc_dev.demo_data.reference import COMMUNE_PROCS, DEPARTMENT_PROCS, DISTRICT_PROCS, PROVINCE_CODE, UNIT_ERA, load_reference
from tthc_dev.demo_data.sources import (
    PG_SCHEMA,
    RATES,
    AlreadyDigitizedWriter,
    CivilStatusWriter,
    HouseholdBusinessWriter,
    PermitsWriter,
    Signers,
    UnitNamer,
    child_env,
    file_sha256,
    stream,
)

log = logging.getLogger("tthc_dev.demo_data")
SCOPE_ORD = SCOPE_CUTOFF.toordinal()
SA_DEC_ORD = SA_DEC_CUTOFF.toordinal()

GENERATOR_VERSION = "1.2.0"

SCAN_FIRST = date(2022, 3, 3)  # the province plan's issue date: scanning campaigns start
SCAN_LAST = date(2025, 11, 30)


def scan_time(seed: int, name: str, issue_ord: int) -> str:
    """When the paper behind scan-drop file ``name`` was scanned (ISO 8601, +07:00).

    Its own stream per file name, so the scan drop's other draws do not move; office hours,
    at least 30 days after issue and inside the digitization campaign."""
    rng = stream(seed, f"scans:time:{name}")
    lo = max(issue_ord + 30, SCAN_FIRST.toordinal())
    hi = max(lo, SCAN_LAST.toordinal())
    d = date.fromordinal(lo + int(rng.random() * (hi - lo + 1)))
    sec = 7 * 3600 + int(rng.random() * 10 * 3600)
    return f"{d.isoformat()}T{sec // 3600:02d}:{sec % 3600 // 60:02d}:{sec % 60:02d}+07:00"


ONE_STOP_COLUMNS = ("unit_era", "unit_level", "unit_code", "office", "started_digitization_on")
# Share of one-stop offices that have started digitizing by the end of each year (plan: district
# 50 % / commune 30 % in 2022, +30 points a year). Communes lag behind in 2023 on purpose.
ONE_STOP_STARTED = {"district": {2022: 0.55, 2023: 0.85, 2024: 1.0},
                    "commune": {2022: 0.35, 2023: 0.55, 2024: 0.92, 2025: 0.97}}


def write_one_stop_offices(path: Path, seed: int, ref) -> Counter:
    """One Bộ phận Một cửa per district and commune People's Committee, with the day it started
    running the digitization process (empty: not yet)."""
    rng = stream(seed, "one_stop_offices")
    counts: Counter = Counter()
    rows = []
    for level, units in (("district", ref.districts), ("commune", ref.communes)):
        shares = ONE_STOP_STARTED[level]
        for u in units:
            r = rng.random()
            started = None
            prev = 0.0
            for year, share in sorted(shares.items()):
                if r < share:
                    first = date(2022, 3, 3) if year == 2022 else date(year, 1, 1)
                    lo, hi = max(first.toordinal(), date(year, 1, 1).toordinal()), date(year, 12, 31).toordinal()
                    # spread inside the year by where r falls in this year's slice
                    frac = (r - prev) / max(share - prev, 1e-9)
                    started = date.fromordinal(lo + int(frac * (hi - lo)))
                    break
                prev = share
            rows.append((UNIT_ERA, level, u.code, f"Bộ phận Một cửa {u.agency.name}", started.isoformat() if started else ""))
            counts[f"{level}_offices"] += 1
            if started:
                counts[f"{level}_started_{started.year}"] += 1
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(ONE_STOP_COLUMNS)
        w.writerows(rows)
    return counts

# ------------------------------------------------------------------ scan drop planning


class ScanPlanner:
    """Decides the scan drop up front (formats, roles, names) and attaches scans to results.

    Matched scans are attached to results whose index is in a pre-drawn candidate set
    (3x oversampled); a category quota (civil status / permits / household business)
    keeps every kind represented. Quotas still open at the end become paper-only scans.
    """

    def __init__(self, seed: int, n: int, size: int) -> None:
        self.seed = seed
        rng = stream(seed, "scans:plan")
        self.rng = rng
        if n < 12:
            raise ValueError("--scans must be at least 12 (4 broken files + 8 good scans)")
        good = n - 4
        paper = max(1, round(good * 0.3))
        dup = 1 if good >= 10 else 0
        matched = good - paper - dup
        base = ["text_pdf", "image_pdf", "jpeg", "image_pdf", "tiff", "png", "image_pdf", "jpeg", "text_pdf", "png"]
        fmts = [base[k % len(base)] for k in range(good)]
        rng.shuffle(fmts)
        roles = ["matched"] * matched + ["paper_only"] * paper + ["scan_dup"] * dup
        n_permit = max(1, matched // 4)
        n_hkd = 1 if matched >= 8 else 0
        cats = ["permit"] * n_permit + ["hkd"] * n_hkd + ["civil"] * (matched - n_permit - n_hkd)
        rng.shuffle(cats)
        cat_iter = iter(cats)
        jobs: list[dict] = []
        for fmt, role in zip(fmts, roles, strict=True):
            job = {"type": fmt, "role": role, "cat": next(cat_iter) if role == "matched" else None}
            if fmt == "text_pdf":
                job.update(dpi=None, color=None, noisy=False, skew=0.0, rotation=0)
            else:
                job.update(
                    dpi=Picker([150, 200, 300], [0.2, 0.5, 0.3])(rng),
                    color="rgb" if rng.random() < 0.55 else "gray",
                    noisy=rng.random() < 0.6,
                    skew=round((0.4 + rng.random() * 2.1) * (1 if rng.random() < 0.5 else -1), 1) if rng.random() < 0.45 else 0.0,
                    rotation=(90 if rng.random() < 0.5 else 270) if rng.random() < (0.25 if fmt == "image_pdf" else 0.1) else 0,
                )
            job["in_manifest"] = rng.random() < 0.6
            jobs.append(job)
        # Make sure the artefacts the pipeline must cope with are all present.
        img_pdfs = [j for j in jobs if j["type"] == "image_pdf"]
        img_pdfs[0].update(rotation=90, skew=0.0)
        img_pdfs[1].update(skew=1.5, noisy=True, rotation=0)
        img_pdfs[-1].update(noisy=True, dpi=300)
        for reason in ("truncated_pdf", "encrypted_pdf", "wrong_extension"):
            jobs.append({"type": "broken", "reason": reason, "role": "broken", "cat": "civil", "in_manifest": False})
        jobs.append({"type": "broken", "reason": "empty_file", "role": "broken", "cat": None, "in_manifest": False})
        rng.shuffle(jobs)
        for k, job in enumerate(jobs, 1):
            r = rng.random()
            if job["role"] in ("matched", "paper_only") and r < 0.25:
                job["stem"] = None  # named after its content once the result is known
            elif r < 0.6:
                job["stem"] = f"SCAN_{k:04d}"
            else:
                job["stem"] = f"IMG_2024{3 + k // 20:02d}{1 + k % 28:02d}_{k:04d}"
            job["ext"] = {"text_pdf": ".pdf", "image_pdf": ".pdf", "jpeg": ".jpg", "tiff": ".tif", "png": ".png", "broken": ".pdf"}[
                job["type"]
            ]
            job["rec"] = None
            job["gt_id"] = None
        self.jobs = jobs
        want = sum(1 for j in jobs if j["cat"])
        self.candidates = set(rng.sample(range(size), min(size, 3 * want + 10)))
        self.counts: Counter = Counter()

    @staticmethod
    def _cat(proc: str) -> str:
        return "civil" if proc in COMMUNE_PROCS else "hkd" if proc == "HKD" else "permit"

    def _name(self, job: dict, rec: dict) -> str:
        if job["stem"] is None:
            job["stem"] = f"{rec['proc']}_{rec['unit_code']}_{rec['number'].replace('/', '-')}"
        return job["stem"] + job["ext"]

    def appearance(self, job: dict) -> str:
        is_text = job["type"] == "text_pdf"
        return json.dumps({
            "source": "scan_drop",
            "file": job["name"],
            "format": job["type"],
            "text_layer": is_text,
            "dpi": job["dpi"],
            "color": job["color"],
            "rotation": job["rotation"],
            "skew_deg": job["skew"],
            "noisy": job["noisy"],
            "quality_ok": is_text or (job["color"] == "rgb" and job["dpi"] >= 200),
            "in_manifest": job["in_manifest"],
            "scanned_at": scan_time(self.seed, job["name"], job["rec"]["issue"]),
        }, ensure_ascii=False, separators=(",", ":"))

    def _attach(self, job: dict, rec: dict, gt: ResultGT) -> None:
        job["rec"] = rec
        job["gt_id"] = gt.result_id
        job["name"] = self._name(job, rec)
        if job["role"] == "broken":
            return
        gt.appears.append(self.appearance(job))
        if job["role"] != "paper_only":  # an extra copy of a result some source already holds
            gt.dups.append(json.dumps({"source": "scan_drop", "file": job["name"]}, ensure_ascii=False, separators=(",", ":")))

    def offer(self, rec: dict, gt: ResultGT, i: int) -> None:
        if i not in self.candidates:
            return
        cat = self._cat(rec["proc"])
        for job in self.jobs:
            if job["rec"] is None and job["cat"] == cat and (job["role"] != "scan_dup"):
                self._attach(job, rec, gt)
                if job["role"] == "matched":
                    self.counts[f"matched_{cat}"] += 1
                    if cat == "civil":  # the paper scanned twice: a second file of the first civil match
                        for dup in self.jobs:
                            if dup["role"] == "scan_dup" and dup["rec"] is None:
                                self._attach(dup, rec, gt)
                                self.counts["scan_dup"] += 1
                return

    def finish(
        self, paper_factory: ResultFactory, first_rid: int, gt_writer: GroundTruthWriter, inventory: Counter, head: HeadRenderer, campaigns
    ) -> int:
        """Paper-only results for every job still without a result. Returns how many were made."""
        rng = self.rng
        mix = Picker(["KS", "KH", "KT", "GPXD", "ATTP", "DKDN"], [0.3, 0.1, 0.1, 0.15, 0.2, 0.15])
        made = 0
        for job in self.jobs:
            if job["rec"] is not None or job.get("reason") == "empty_file":
                continue
            if job["role"] in ("matched", "scan_dup"):
                self.counts[f"unfilled_{job['role']}"] += 1
            if job["role"] == "broken":
                continue
            job["role"] = "paper_only"
            rec = paper_factory.make(first_rid + made, proc=mix(rng))
            made += 1
            gt = head(rec, paper_only=True)
            self._attach(job, rec, gt)
            gt_writer.result(gt)
            if campaigns.counts(rec):
                inventory[(rec["agency"].electronic_id, UNIT_ERA, rec["unit_code"], rec["proc"], rec["year"])] += 1
            self.counts["paper_only"] += 1
        # Broken files still waiting for a result (tiny sizes) depict the first paper-only result.
        first_paper = next((j for j in self.jobs if j["role"] == "paper_only" and j["rec"] is not None), None)
        for job in self.jobs:
            if job["role"] == "broken" and job["rec"] is None:
                if job["reason"] != "empty_file" and first_paper is not None:
                    job["rec"], job["gt_id"] = first_paper["rec"], first_paper["gt_id"]
                job["name"] = (job["stem"] or "SCAN_0000") + job["ext"]
        return made

    def render(self, scan_dir: Path, seed: int, namer: UnitNamer, province_name: str, gt_writer: GroundTruthWriter, signers: Signers) -> None:
        """Write the scan drop (in two processes when it is worth it) and its ground-truth lines."""
        from tthc_dev.demo_data import scans as S

        scan_dir.mkdir(parents=True, exist_ok=True)
        manifest_rows = []
        tasks = []
        for job in self.jobs:
            rec = job["rec"]
            task = {k: job.get(k) for k in ("type", "reason", "dpi", "color", "noisy", "skew", "rotation")}
            task.update(path=str(scan_dir / job["name"]), seed=seed, name=job["name"], lines=None, signer="", scanned_at=None)
            if rec is not None:
                task["scanned_at"] = scan_time(seed, job["name"], rec["issue"])
                rng = stream(seed, f"scans:file:{job['name']}")  # the first draw picks the signer
                task["lines"] = S.page_lines(rec, namer, province_name)
                task["signer"] = signers.get(rec["agency"].electronic_id, rng.random())
            tasks.append(task)
            if job["type"] == "broken":
                reason = job["reason"]
                entry = {"source": "scan_drop", "file": job["name"], "reason": reason}
                if reason == "wrong_extension":
                    entry["actual_format"] = "jpeg"
                if job["gt_id"] is not None:
                    entry["depicts_result_id"] = job["gt_id"]
                gt_writer.bad_input(entry)
                self.counts[f"broken_{reason}"] += 1
                continue
            self.counts[f"format_{job['type']}"] += 1
            if job["rotation"]:
                self.counts["rotated_90"] += 1
            if job["skew"]:
                self.counts["skewed"] += 1
            if job["noisy"]:
                self.counts["noisy"] += 1
            if job["in_manifest"]:
                manifest_rows.append((job["name"], rec["unit_code"], rec["proc"], rec["book"] or "", rec["number"], task["scanned_at"]))
        S.render_tasks(tasks, scan_dir.parent)
        with (scan_dir / "manifest.csv").open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(("file_name", "unit_code", "procedure_code", "book", "number", "scanned_at"))
            w.writerows(sorted(manifest_rows))
        self.counts["files"] = len(self.jobs)
        self.counts["manifest_rows"] = len(manifest_rows)


# ------------------------------------------------------------------ dossiers and inventory

DOSSIER_MIX = {"KS": 30, "KH": 10, "KT": 8, "XNHN": 15, "HKD": 12, "GPXD": 10, "BLR": 3, "ATTP": 6, "DKDN": 6}
RESUPPLY_SHARE = {2022: 0.70, 2023: 0.50, 2024: 0.33, 2025: 0.18}
ONLINE_SHARE = {2022: 0.25, 2023: 0.40, 2024: 0.55, 2025: 0.70}
DOSSIER_FIRST = date(2022, 1, 1)
DOSSIER_LAST = LAST_ISSUE  # the pre-2025 agencies stop receiving on 30/6/2025
DOSSIER_COLUMNS = (
    "dossier_code", "procedure_code", "agency_electronic_id", "unit_era", "unit_code",
    "received_date", "channel", "resupplied_documents",
)  # fmt: skip


def write_dossiers(path: Path, seed: int, ref, n: int) -> Counter:
    rng = stream(seed, "dossiers")
    pick = Picker(DOSSIER_MIX.keys(), DOSSIER_MIX.values())
    days = [o for o in range(DOSSIER_FIRST.toordinal(), DOSSIER_LAST.toordinal() + 1) if date.fromordinal(o).weekday() < 5]
    nd = len(days)
    communes, districts = ref.communes, ref.districts
    counts: Counter = Counter()
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(DOSSIER_COLUMNS)
        batch = []
        for k, o in enumerate(days):
            cnt = (k + 1) * n // nd - k * n // nd
            if not cnt:
                continue
            d = date.fromordinal(o)
            stamp = f"{d.year % 100:02d}{d.month:02d}{d.day:02d}"
            iso = d.isoformat()
            resupply, online = RESUPPLY_SHARE[d.year], ONLINE_SHARE[d.year]
            seqs: dict[str, int] = {}
            for _ in range(cnt):
                proc = pick(rng)
                if proc in COMMUNE_PROCS:
                    c = communes[int(rng.random() * len(communes))]
                    ag, unit = c.agency, c.code
                elif proc in DISTRICT_PROCS:
                    dist = districts[int(rng.random() * len(districts))]
                    ag, unit = dist.agency, dist.code
                else:
                    codes = DEPARTMENT_PROCS[proc]
                    ag, unit = ref.departments[codes[int(rng.random() * len(codes))]], PROVINCE_CODE
                eid = ag.electronic_id
                seq = seqs.get(eid, 0) + 1
                seqs[eid] = seq
                re_ = rng.random() < resupply
                batch.append(
                    (f"{eid}-{stamp}-{seq:04d}", proc, eid, UNIT_ERA, unit, iso, "online" if rng.random() < online else "direct", "true" if re_ else "false")
                )
                counts[f"year_{d.year}"] += 1
                counts[f"resupplied_{d.year}"] += re_
            if len(batch) >= 10_000:
                w.writerows(batch)
                batch.clear()
        w.writerows(batch)
    counts["rows"] = n
    return counts


INVENTORY_COLUMNS = ("agency_electronic_id", "unit_era", "unit_code", "procedure_code", "issue_year", "declared_paper_count", "declared_on")


class Campaigns:
    """The day each agency declared its inventory (rà soát), 2022-03-01 .. 2023-12-01."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.days: dict[str, date] = {}

    def __call__(self, eid: str) -> date:
        d = self.days.get(eid)
        if d is None:
            r = stream(self.seed, f"inventory:campaign:{eid}")
            d = self.days[eid] = date.fromordinal(date(2022, 3, 1).toordinal() + int(r.random() * 640))
        return d

    def counts(self, rec: dict) -> bool:
        """Would the agency have counted this result: issued before the campaign year, still valid on its day?"""
        if rec["revoked"]:
            return False
        on = self(rec["agency"].electronic_id)
        end = rec["valid_until"]
        return rec["year"] < on.year and (end is None or end >= on.toordinal())


def write_inventory(path: Path, seed: int, ref, known: Counter, size: int) -> dict:
    """Declared paper counts (rà soát, kiểm đếm), one campaign date per agency.

    A unit declares, for each procedure and issue year before its campaign, how many
    results still valid on that day it holds; 65% of declarations equal the results that
    exist (``known``, counted with :meth:`Campaigns.counts`), 20% exceed it (paper-only
    backlog) and 15% fall short. Departments also declare ATTP/DKDN results that no
    structured source holds.
    """
    rng = stream(seed, "inventory")
    declared_on = Campaigns(seed)

    keys = dict(known)
    per_year = max(1, size // 2000)
    for proc, codes in DEPARTMENT_PROCS.items():
        for code in codes:
            eid = ref.departments[code].electronic_id
            for year in range(2012, 2022):
                keys.setdefault((eid, UNIT_ERA, PROVINCE_CODE, proc, year), 0)
    stats = Counter()
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(INVENTORY_COLUMNS)
        for key in sorted(keys):
            eid, era, unit, proc, year = key
            on = declared_on(eid)
            if year >= on.year:
                continue
            k = keys[key]
            r = rng.random()
            if k == 0:  # department backlog the sources don't hold
                declared = per_year + int(rng.random() * per_year * 2)
            elif r < 0.65:
                declared = k
            elif r < 0.85:
                declared = k + max(1, round(k * (0.05 + rng.random() * 0.55)))
            else:
                declared = max(0, k - max(1, round(k * (0.05 + rng.random() * 0.35))))
            kind = "equal" if declared == k else "over" if declared > k else "under"
            stats[f"keys_{kind}"] += 1
            stats["declared_total"] += declared
            stats["known_total"] += k
            w.writerow((eid, era, unit, proc, year, declared, on.isoformat()))
            stats["rows"] += 1
    return dict(stats)


# ------------------------------------------------------------------ main entry


def default_scans(size: int) -> int:
    return min(40, max(12, size // 25))


def _prepare_out(out: Path, force: bool) -> None:
    if out.exists():
        if not out.is_dir():
            raise FileExistsError(f"{out} exists and is not a directory")
        if any(out.iterdir()) and not (out / "manifest.json").exists() and not force:
            raise FileExistsError(
                f"{out} is not empty and holds no manifest.json from an earlier run; refusing to replace it (use force=True / --force)"
            )


def generate(
    out_dir: str | os.PathLike,
    seed: int = 42,
    size: int = 1000,
    permits_url: str | None = None,
    scans: int | None = None,
    *,
    force: bool = False,
) -> dict:
    """Generate the demo data set into ``out_dir`` (replacing it) and return the manifest."""
    if size < 1:
        raise ValueError("size must be >= 1")
    n_scans = default_scans(size) if scans is None else int(scans)
    if n_scans < 12:
        raise ValueError("scans must be at least 12 (4 broken files + 8 good scans)")
    out = Path(out_dir).resolve()
    _prepare_out(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        manifest = _generate_into(tmp, seed=seed, size=size, permits_url=permits_url, n_scans=n_scans)
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        if out.exists():
            out.rename(old)
        tmp.rename(out)
        if old.exists():
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


# The structured pass runs as two "families" that write disjoint outputs: "civil" writes the
# civil-status database and the exclusion list, "business" the household-business export,
# the permits and the dossiers. Both read the stream that decides each result's procedure;
# everything else comes from per-family streams. For large sizes the business family runs
# in a second process; either way the files are byte-identical.
FAMILIES = {"civil": ("KS", "KH", "KT", "XNHN"), "business": ("HKD", "GPXD", "BLR")}
PARALLEL_MIN_SIZE = 50_000


def run_family(family: str, tmp: Path, *, seed: int, size: int, permits_url: str | None, n_scans: int) -> dict:
    """One family's pass over all results. Writes its files and ground-truth part; returns its state."""
    t0 = time.perf_counter()
    ref = load_reference()
    names = NameMaker(ref.names)
    gt = GroundTruthWriter(tmp / f".gt_{family}.part")
    number_gap = max(1, min(200, 200_000 // size))
    # Which procedure each result has comes from one stream that both families read; the
    # rest of a result comes from its family's own stream, so neither family has to make
    # the other's results (and document-number sequences never cross families).
    proc_rng = stream(seed, "results:procedure")
    proc_pick = Picker(PROCEDURE_MIX.keys(), PROCEDURE_MIX.values())
    factory = ResultFactory(ref, stream(seed, f"results:{family}"), number_gap=number_gap)
    head = HeadRenderer()
    planner = ScanPlanner(seed, n_scans, size)
    mine = FAMILIES[family]
    state: dict = {"family": family}
    if family == "civil":
        adig = AlreadyDigitizedWriter(tmp / "already_digitized.csv", seed, gt, names, ref)
        civil = CivilStatusWriter(tmp / "civil_status.sqlite", seed, ref, names, Signers(seed, names), gt, adig)
        writers = {p: civil for p in mine}
        steppers = [civil]
    else:
        hkd = HouseholdBusinessWriter(tmp / "household_business.csv", tmp / "household_business.xlsx", seed, ref, gt, tmp)
        hkd.xlsx_background = size * PROCEDURE_MIX["HKD"] > 3_000
        hkd.xlsx_enabled = size * PROCEDURE_MIX["HKD"] * 1.05 < 1_000_000  # the XLSX export stops at 1M rows
        permits = PermitsWriter(permits_url, tmp / "construction_permits.sqlite", seed, ref, gt)
        writers = {"HKD": hkd, "GPXD": permits, "BLR": permits}
        steppers = [hkd, permits]
    inventory: Counter = Counter()  # results each agency would have declared (see Campaigns)
    campaigns = Campaigns(seed)
    status_counts: Counter = Counter()  # (procedure, status, issued <= province cut-off, Sa Đéc & <= its cut-off)
    pending: deque = deque()
    write_gt = gt.result
    every = min(100_000, max(1, size // 10))
    candidates = planner.candidates
    make = factory.make
    rnd = proc_rng.random
    p_items, p_cum, p_total = proc_pick.items, proc_pick.cum, proc_pick.total
    steps = [w.step for w in steppers]
    is_civil = family == "civil"
    # The loop makes no reference cycles; the cyclic GC would only rescan live objects.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    for i in range(size):
        proc = p_items[bisect_right(p_cum, rnd() * p_total)]
        if is_civil and (i + 1) % every == 0:
            el = time.perf_counter() - t0
            log.info("%d/%d results (%.0f%%), %.0f results/s", i + 1, size, 100 * (i + 1) / size, (i + 1) / el if el else 0)
        if proc in mine:
            rec = make(i, proc)
            if campaigns.counts(rec):
                inventory[(rec["agency"].electronic_id, UNIT_ERA, rec["unit_code"], proc, rec["year"])] += 1
            status_counts[(proc, rec["status"], rec["issue"] <= SCOPE_ORD, rec["district_code"] == 867 and rec["issue"] <= SA_DEC_ORD)] += 1
            g = head(rec)
            writers[proc].add(rec, g, i)
            if i in candidates:
                planner.offer(rec, g, i)
            if g.open or pending:
                pending.append(g)
            else:
                write_gt(g)
        for st in steps:
            st(i)
        while pending and pending[0].open == 0:
            write_gt(pending.popleft())
    if gc_was_enabled:
        gc.enable()
    for w in steppers:
        for step in sorted(w.scheduled):
            w.step(step)
    while pending and pending[0].open == 0:
        write_gt(pending.popleft())
    if pending:
        raise AssertionError("ground-truth lines left open after draining duplicates")
    state.update(counters=factory.counters, inventory=inventory, status_counts=status_counts)
    if is_civil:
        civil.close()
        adig.close()
        state.update(civil_counts=civil.counts, adig_counts=adig.counts)
    else:
        t_loop = time.perf_counter() - t0
        state["dossier_counts"] = write_dossiers(tmp / "dossiers.csv", seed, ref, max(500, size // 2))
        t_dossiers = time.perf_counter() - t0 - t_loop
        hkd.close()  # waits for the XLSX helper
        state.update(hkd_counts=hkd.counts, permit_tables=permits.close(), permits_kind=permits.kind, permit_counts=permits.counts)
        log.debug("business family: loop %.1fs, dossiers %.1fs, closing %.1fs", t_loop, t_dossiers, time.perf_counter() - t0 - t_loop - t_dossiers)
    gt.close()
    state["gt_counts"] = gt.counts
    state["planner_counts"] = planner.counts
    state["jobs"] = [(k, job["rec"], job["gt_id"], job["name"]) for k, job in enumerate(planner.jobs) if job["rec"] is not None]
    state["seconds"] = time.perf_counter() - t0
    return state


def _run_business_subprocess(tmp: Path, **kw):
    import pickle
    import subprocess
    import sys

    args = json.dumps({"tmp": str(tmp), **kw})
    proc = subprocess.Popen([sys.executable, "-m", "tthc_dev.demo_data._family_worker", args], env=child_env())

    def wait(abort: bool = False) -> dict | None:
        if abort:
            proc.kill()
            proc.wait()
            return None
        if proc.wait() != 0:
            raise RuntimeError(f"the business-family worker failed (exit code {proc.returncode})")
        path = tmp / ".family_business.pkl"
        with path.open("rb") as fh:
            state = pickle.load(fh)
        path.unlink()
        return state

    return wait


def _generate_into(tmp: Path, *, seed: int, size: int, permits_url: str | None, n_scans: int) -> dict:
    t0 = time.perf_counter()
    ref = load_reference()
    kw = {"seed": seed, "size": size, "permits_url": permits_url, "n_scans": n_scans}
    log.info("generating %d results (seed %d) into %s", size, seed, tmp)
    if size >= PARALLEL_MIN_SIZE:
        wait_business = _run_business_subprocess(tmp, **kw)
        try:
            civ = run_family("civil", tmp, **kw)
        except BaseException:
            wait_business(abort=True)
            raise
        biz = wait_business()
    else:
        civ = run_family("civil", tmp, **kw)
        biz = run_family("business", tmp, **kw)
    t_struct = time.perf_counter() - t0
    log.info(
        "structured sources done in %.1fs (%.0f results/s; civil family %.1fs, business family %.1fs)",
        t_struct, size / t_struct, civ["seconds"], biz["seconds"],
    )  # fmt: skip

    # One ground-truth file: civil part, business part, then paper-only results and scan files.
    gt = GroundTruthWriter(tmp / "ground_truth.jsonl")
    for fam in ("civil", "business"):
        part = tmp / f".gt_{fam}.part"
        with part.open("rb") as fh:
            shutil.copyfileobj(fh, gt.fh, 1 << 20)
        part.unlink()
    gt.counts.update(civ["gt_counts"])
    gt.counts.update(biz["gt_counts"])

    planner = ScanPlanner(seed, n_scans, size)
    for k, rec, gt_id, name in civ["jobs"] + biz["jobs"]:
        planner.jobs[k].update(rec=rec, gt_id=gt_id, name=name)
    planner.counts.update(civ["planner_counts"])
    planner.counts.update(biz["planner_counts"])
    inventory: Counter = civ["inventory"] + biz["inventory"]
    number_gap = max(1, min(200, 200_000 // size))
    paper_factory = ResultFactory(ref, stream(seed, "paper_only"), number_gap=number_gap)
    # Numbers continue those of the structured sources (the families' keys are disjoint).
    paper_factory.counters = {**civ["counters"], **biz["counters"]}
    n_paper = planner.finish(paper_factory, size, gt, inventory, HeadRenderer(), Campaigns(seed))
    names = NameMaker(ref.names)
    t1 = time.perf_counter()
    planner.render(tmp / "scan_drop", seed, UnitNamer(ref), ref.province_name, gt, Signers(seed, names))
    log.info("%d scans done in %.1fs", n_scans, time.perf_counter() - t1)
    inv_stats = write_inventory(tmp / "inventory_declared.csv", seed, ref, inventory, size)
    one_stop = write_one_stop_offices(tmp / "one_stop_offices.csv", seed, ref)
    gt.close()
    t2 = time.perf_counter()
    e_copies = write_e_copies(tmp, tmp / "ground_truth.jsonl", seed)
    log.info("%d signed e-copies written in %.1fs", sum(e_copies.values()) - e_copies["missing"],
             time.perf_counter() - t2)

    files = {}
    for path in sorted(p for p in tmp.rglob("*") if p.is_file()):
        rel = path.relative_to(tmp).as_posix()
        files[rel] = {"bytes": path.stat().st_size, "sha256": file_sha256(path)}

    proc_counts: Counter = Counter()
    scope_counts: Counter = Counter()
    statuses: Counter = Counter()
    for (proc, status, in_prov, in_sadec), n in (civ["status_counts"] + biz["status_counts"]).items():
        proc_counts[proc] += n
        statuses[status] += n
        if status == "valid" and in_prov:
            scope_counts["in_scope_province_plan"] += n
        if status == "valid" and in_sadec:
            scope_counts["in_scope_sa_dec_plan"] += n
    dossier_counts = biz["dossier_counts"]
    resupply = {str(y): round(dossier_counts[f"resupplied_{y}"] / dossier_counts[f"year_{y}"], 4)
                for y in RESUPPLY_SHARE if dossier_counts[f"year_{y}"]}  # fmt: skip
    cc, hc, pc, ac = civ["civil_counts"], biz["hkd_counts"], biz["permit_counts"], civ["adig_counts"]
    permit_tables = biz["permit_tables"]
    kind = biz["permits_kind"]
    flaws = {
        "civil_status": {k: v for k, v in sorted(cc.items()) if k not in ("rows", "true_rows")},
        "household_business": {k: v for k, v in sorted(hc.items()) if k not in ("rows", "true_rows", "xlsx_rows")},
        "construction_permits": {k: v for k, v in sorted(pc.items()) if not k.endswith("_rows") or k in ("duplicate_rows", "junk_rows")},
        "already_digitized": dict(sorted(ac.items())),
        "scan_drop": dict(sorted(planner.counts.items())),
        "status": dict(sorted(statuses.items())),
    }  # fmt: skip
    manifest = {
        "generator": "tthc_dev.demo_data",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "size": size,
        "scans": n_scans,
        "as_of": AS_OF.isoformat(),
        "last_issue_date": LAST_ISSUE.isoformat(),
        "scope_cutoff_province_plan": SCOPE_CUTOFF.isoformat(),
        "scope_cutoff_sa_dec_plan": SA_DEC_CUTOFF.isoformat(),
        "unit_era": UNIT_ERA,
        "rates": {"procedure_mix": PROCEDURE_MIX, **RATES},
        "expected_distinct_results": size + n_paper,
        "counts": {
            "results_in_structured_sources": size,
            "paper_only_results": n_paper,
            "results_by_procedure": dict(sorted(proc_counts.items())),
            "scope": dict(sorted(scope_counts.items())),
            "sources": {
                "civil_status": {"table": "SO_HO_TICH", "rows": cc["rows"], "true_rows": cc["true_rows"],
                                 "duplicate_rows": cc["duplicate_rows"], "junk_rows": cc["junk_rows"]},
                "household_business": {"rows": hc["rows"], "true_rows": hc["true_rows"],
                                       "duplicate_rows": hc["duplicate_rows"], "junk_rows": hc["junk_rows"],
                                       "xlsx_rows": hc["xlsx_rows"]},
                "construction_permits": {"backend": kind, "true_rows": pc["true_rows"],
                                         "duplicate_rows": pc["duplicate_rows"], "junk_rows": pc["junk_rows"],
                                         "tables": permit_tables},
                "already_digitized": {"rows": ac["rows"], "overlap_rows": ac["overlap_rows"],
                                      "external_only_rows": ac["external_only_rows"]},
                "dossiers": {"rows": dossier_counts["rows"], "first": DOSSIER_FIRST.isoformat(), "last": DOSSIER_LAST.isoformat(),
                             "resupplied_share_by_year": resupply},
                "inventory_declared": inv_stats,
                "scan_drop": {"files": planner.counts["files"], "manifest_rows": planner.counts["manifest_rows"]},
                "e_copies": e_copies,
                "one_stop_offices": dict(sorted(one_stop.items())),
            },
            "flaws": flaws,
            "ground_truth": dict(sorted(gt.counts.items())),
        },
        "permits_db": {
            "backend": kind,
            "schema": PG_SCHEMA if kind == "postgresql" else None,
            "file": "construction_permits.sqlite" if kind == "sqlite" else None,
            "tables": permit_tables,
            "digest": "sha256 over rows in primary-key order; see tthc_dev.demo_data.sources.permits_table_digests",
        },
        "files": files,
    }  # fmt: skip
    (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    log.info("done: %d results (+%d paper-only), %.1fs total", size, n_paper, time.perf_counter() - t0)
    return manifest
