"""Scan text throughput: text-layer PDFs, our OCR pool vs OCRmyPDF, and vs the machine's limit.

    .venv/bin/python bench/bench_scan.py --pages 8 --text-pages 200 --repeat 3

Generates, in the demo drop's look (tthc_dev.demo_data.scans: DejaVu Sans 13 pt, motto, title,
"Label: value" lines, signature block, stamp), N text-layer PDFs and one image-only PDF of N
pages (grey, --dpi, default 300), then per repeat:

  text     tthc.scans.text.plan_pages on every text-layer PDF (magic bytes, PDFium text layer,
           per-page judgement): pages/s; and the same plus tthc.scans.fields.extract_fields
  ours     the image-only PDF through plan_pages + OcrPool (TTHC_OCR_WORKERS = cores,
           OMP_THREAD_LIMIT=1): the page image (decoded from the PDF, or rendered) at the page's
           dpi, orientation check, Tesseract `vie` (engine: TTHC_OCR_ENGINE, see tthc.scans.ocr)
  ocrmypdf `ocrmypdf --jobs <cores> -l vie` on the same PDF (both measured in the same run)
  limit    cores / median single-page time of bare `tesseract <page> - -l vie` (OMP_THREAD_LIMIT=1)
           on the same pages pre-rendered: what N cores could do with zero overhead
  limit2   (second baseline, only with the tesserocr engine) cores / median single-page time of an
           already-loaded in-process tesserocr API on the same pre-rendered pages, one thread: the
           zero-overhead limit of the engine we actually run (tesserocr bundles its own libtesseract,
           which may be faster or slower than the system `tesseract`)

Ratios: (a) ours / ocrmypdf pages/s; (b) ours / limit; (b2) ours / limit2. Goals: (b) ≥ 0.9, (a) > 1,
text ≥ 200 pages/s including field extraction. Peak RSS: this process, and the largest child
(OCR workers, tesseract).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

SURNAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Huỳnh", "Võ", "Phan", "Đặng"]
MIDDLE = ["Văn", "Thị", "Minh", "Ngọc", "Thanh", "Hữu", "Kim"]
GIVEN = ["An", "Bình", "Cường", "Dũng", "Hà", "Hạnh", "Khánh", "Lan", "Phúc", "Quang", "Tâm", "Yến"]
COMMUNES = [("xã Tân Phú Đông", "thị xã Sa Đéc"), ("xã Tân Phước", "huyện Lai Vung"),
            ("xã Phú Thuận A", "huyện Hồng Ngự"), ("xã Bình Thành", "huyện Thanh Bình")]


def page_lines(rng: random.Random) -> tuple[list[tuple[str, str]], str]:
    """A birth certificate page as (style, text) lines, like tthc_dev.demo_data.scans.page_lines."""
    commune, district = rng.choice(COMMUNES)
    name = f"{rng.choice(SURNAMES)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
    year = rng.randint(1996, 2021)
    agency = f"Ủy ban nhân dân {commune}"
    lines = [("motto", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"), ("motto", "Độc lập - Tự do - Hạnh phúc"),
             ("agency", agency.upper()), ("title", "GIẤY KHAI SINH"),
             ("field", f"Số: {rng.randint(1, 400)}/{year}"), ("field", f"Quyển số: {rng.randint(1, 3):02d}"),
             ("field", f"Họ và tên: {name}"), ("field", f"Giới tính: {rng.choice(['Nam', 'Nữ'])}"),
             ("field", f"Ngày sinh: {rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{year}"),
             ("field", f"Số định danh cá nhân: 0873{year % 100:02d}{rng.randint(0, 999999):06d}"),
             ("field", f"Nơi đăng ký: {agency}, {district}, tỉnh Đồng Tháp"),
             ("field", f"Ngày cấp: {rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{year}"),
             ("field", f"Cơ quan cấp: {agency}"), ("sign", "TM. ỦY BAN NHÂN DÂN")]
    signer = f"{rng.choice(SURNAMES)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
    return lines, signer


def make_inputs(folder: Path, n_text: int, n_image: int, dpi: int, seed: int = 7) -> tuple[list[Path], Path, list[Path]]:
    from tthc_dev.demo_data import scans as S

    rng = random.Random(seed)
    texts = []
    for i in range(n_text):
        lines, signer = page_lines(rng)
        path = folder / f"text_{i:04d}.pdf"
        path.write_bytes(S.text_pdf_bytes(lines, signer=signer))
        texts.append(path)
    images, pgms = [], []
    for i in range(n_image):
        lines, signer = page_lines(rng)
        im = S.render_page(lines, signer=signer, dpi=dpi, color=False)
        images.append(im)
        pgm = folder / f"page_{i:04d}.pgm"
        im.convert("L").save(pgm, "PPM")
        pgms.append(pgm)
    scan_pdf = folder / "scans.pdf"
    buf = io.BytesIO()
    images[0].save(buf, "PDF", resolution=float(dpi), save_all=True, append_images=images[1:])
    scan_pdf.write_bytes(buf.getvalue())
    return texts, scan_pdf, pgms


def bench_text(paths: list[Path]) -> tuple[float, float]:
    """(pages/s of the text stage: type check + PDFium text layer + per-page judgement,
        pages/s of the same followed by A2's extract_fields)."""
    from tthc.scans.fields import extract_fields
    from tthc.scans.text import check_file, plan_pages

    datas = [(p, p.read_bytes()) for p in paths]
    texts = []
    started = time.perf_counter()
    for path, data in datas:
        media = check_file(path.name, data, 1 << 30)
        plan = plan_pages(data, media, str(path), min_text_chars=40, ocr_dpi=300, lang="vie")
        assert all(p.text for p in plan.pages), f"{path}: no text layer found"
        texts.append([p.text for p in plan.pages])
    text_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for pages in texts:
        extract_fields(pages)
    fields_seconds = time.perf_counter() - started
    n = sum(len(t) for t in texts)
    return n / text_seconds, n / (text_seconds + fields_seconds)


def bench_ours(scan_pdf: Path, workers: int) -> tuple[float, float]:
    from tthc.scans.text import OcrPool, plan_pages

    started = time.perf_counter()
    with OcrPool(workers) as pool:
        plan = plan_pages(scan_pdf.read_bytes(), "application/pdf", str(scan_pdf), min_text_chars=40,
                          ocr_dpi=300, lang="vie")
        futures = [pool.submit(p.job) for p in plan.pages if p.job is not None]
        results = [f.result() for f in futures]
    seconds = time.perf_counter() - started
    assert all(len(r.text) > 200 for r in results), "OCR read too little text"
    return len(results) / seconds, statistics.mean(r.confidence for r in results)


def bench_ocrmypdf(scan_pdf: Path, workers: int, n: int, out_dir: Path) -> float:
    out = out_dir / "ocrmypdf_out.pdf"
    exe = shutil.which("ocrmypdf", path=str(Path(sys.executable).parent)) or shutil.which("ocrmypdf") or "ocrmypdf"
    started = time.perf_counter()
    proc = subprocess.run([exe, "--jobs", str(workers), "-l", "vie", "--force-ocr", str(scan_pdf), str(out)],
                          capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"ocrmypdf failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return n / seconds


def bench_single(pgms: list[Path], dpi: int) -> float:
    """Median seconds of one bare tesseract run on one page, one thread."""
    times = []
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    for pgm in pgms:
        started = time.perf_counter()
        subprocess.run(["tesseract", str(pgm), "-", "-l", "vie", "--dpi", str(dpi)], env=env, check=True,
                       capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


_ENGINE_SINGLE = r"""
import os, statistics, sys, time
os.environ["OMP_THREAD_LIMIT"] = "1"
from PIL import Image
from tthc.scans import ocr
dpi = int(sys.argv[1])
api = ocr._api("vie")
times = []
for path in sys.argv[2:]:
    im = Image.open(path); im.load()
    started = time.perf_counter()
    ocr._set_gray(api, im, dpi)
    ocr._read_words(api)
    api.Clear()
    times.append(time.perf_counter() - started)
print(statistics.median(times))
"""


def bench_single_engine(pgms: list[Path], dpi: int) -> float | None:
    """Median seconds of one page through a loaded in-process tesserocr API (None without tesserocr)."""
    from tthc.scans.ocr import ocr_engine

    if ocr_engine() != "tesserocr":
        return None
    proc = subprocess.run([sys.executable, "-c", _ENGINE_SINGLE, str(dpi), *map(str, pgms)], check=True,
                          capture_output=True, text=True, env=dict(os.environ, OMP_THREAD_LIMIT="1"))
    return float(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=8, help="image-only pages to OCR (default 8)")
    parser.add_argument("--text-pages", type=int, default=200, help="text-layer PDFs (default 200)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dpi", type=int, default=300, help="dpi of the image-only pages (default 300)")
    parser.add_argument("--workers", type=int, default=None, help="OCR processes (default: cores)")
    args = parser.parse_args(argv)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    workers = args.workers or int(os.environ.get("TTHC_OCR_WORKERS") or cores)
    os.environ["TTHC_OCR_WORKERS"] = str(workers)
    work = Path(tempfile.mkdtemp(prefix="bench-scan-"))
    try:
        started = time.perf_counter()
        texts, scan_pdf, pgms = make_inputs(work, args.text_pages, args.pages, args.dpi)
        from tthc.scans.ocr import ocr_engine

        print(f"inputs: {len(texts)} text-layer PDFs, {len(pgms)} image-only pages at {args.dpi} dpi "
              f"({time.perf_counter() - started:.1f}s); {cores} cores, {workers} OCR workers, "
              f"engine {ocr_engine()}; load average {os.getloadavg()[0]:.2f}")
        rows = []
        for k in range(1, args.repeat + 1):
            text, text_fields = bench_text(texts)
            ours, conf = bench_ours(scan_pdf, workers)
            omp = bench_ocrmypdf(scan_pdf, workers, len(pgms), work)
            single = bench_single(pgms, args.dpi)
            limit = cores / single
            single2 = bench_single_engine(pgms, args.dpi)
            limit2 = cores / single2 if single2 else float("nan")
            rows.append((k, text, ours, omp, single, limit, ours / omp, ours / limit, conf, text_fields,
                         single2 or float("nan"), limit2, ours / limit2, os.getloadavg()[0]))
            print(f"run {k}: text {text:7.1f} p/s (+fields {text_fields:5.1f}) | ours {ours:5.3f} p/s | ocrmypdf {omp:5.3f} p/s | "
                  f"single {single:5.2f} s/page | limit {limit:5.3f} p/s | (a) {ours / omp:4.2f} | "
                  f"(b) {ours / limit:4.2f} | "
                  + (f"limit2 {limit2:5.3f} p/s (b2) {ours / limit2:4.2f} | " if single2 else "")
                  + f"conf {conf:4.1f} | "
                  f"load {os.getloadavg()[0]:.2f}", flush=True)
        med = [statistics.median(r[i] for r in rows) for i in range(1, 14)]
        self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print()
        print("| measure | median |")
        print("|---|---|")
        print(f"| text-layer PDFs: magic bytes + PDFium text layer + per-page check, pages/s | {med[0]:.1f} |")
        print(f"| text-layer PDFs incl. field extraction (tthc.scans.fields), pages/s | {med[8]:.1f} |")
        print(f"| image-only OCR, ours ({workers} workers), pages/s | {med[1]:.3f} |")
        print(f"| image-only OCR, ocrmypdf --jobs {workers} -l vie, pages/s | {med[2]:.3f} |")
        print(f"| bare tesseract, one page one thread, s | {med[3]:.2f} |")
        print(f"| limit = {cores} cores / single-page time, pages/s | {med[4]:.3f} |")
        print(f"| ratio (a) ours / ocrmypdf | {med[5]:.2f} |")
        print(f"| ratio (b) ours / limit | {med[6]:.2f} |")
        if med[9] == med[9]:  # not NaN: the tesserocr engine ran
            print(f"| second baseline: loaded in-process tesserocr, one page one thread, s | {med[9]:.2f} |")
            print(f"| limit2 = {cores} cores / that time, pages/s | {med[10]:.3f} |")
            print(f"| ratio (b2) ours / limit2 (same engine) | {med[11]:.2f} |")
        print(f"| mean Tesseract word confidence | {med[7]:.1f} |")
        print(f"| peak RSS, benchmark process / largest child, MB | {self_rss:.0f} / {child_rss:.0f} |")
        print(f"| 1-minute load average during the runs (median) | {med[12]:.2f} |")
        print(f"\n{args.repeat} repeats, medians; {len(pgms)} image pages at {args.dpi} dpi, {len(texts)} text pages; "
              f"OCR engine {ocr_engine()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
