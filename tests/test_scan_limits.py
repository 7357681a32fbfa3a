"""Resource limits and drop containment, on real files in a real drop with the real warehouse and
Tesseract: a decompression bomb, a poster-sized PDF page, too many pages, a file above the size
limit, symlinks leaving the drop, hidden files; one batch takes them all, records every file and
goes on. And a scan run killed with SIGKILL mid-OCR leaves no OCR worker behind; its temporary
copies are removed by the next run."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageDraw, ImageFont

from tthc.scans.config import load_drop
from tthc.scans.intake import run_drop
from tthc.warehouse.db import fetch_all

ROOT = Path(__file__).resolve().parents[1]
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
SECRET = "s3cr3t-marker-7f1c"   # in the file an escaping symlink points at: must appear nowhere


def bomb_png(path: Path, side: int = 20000) -> None:
    """A valid 1-bit greyscale PNG of side x side white pixels (400 M pixels), tens of kB on disk."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    row = b"\x00" + b"\xff" * ((side + 7) // 8)
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def pdf_with_huge_image(path: Path, side: int = 20000) -> None:
    """An A4 PDF page showing one 1-bit side x side image (400 M pixels), tens of kB on disk."""
    comp = zlib.compressobj(9)
    row = b"\xff" * ((side + 7) // 8)
    data = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    content = b"q 595 0 0 842 0 0 cm /Im0 Do Q"
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /XObject << /Im0 4 0 R >> >> "
            b"/Contents 5 0 R >>",
            f"<< /Type /XObject /Subtype /Image /Width {side} /Height {side} /ColorSpace /DeviceGray "
            f"/BitsPerComponent 1 /Filter /FlateDecode /Length {len(data)} >>\nstream\n".encode() + data
            + b"\nendstream",
            f"<< /Length {len(content)} >>\nstream\n".encode() + content + b"\nendstream"]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(bytes(out))


def blank_pdf(path: Path, pages: int, width: float = 595, height: float = 842) -> None:
    doc = pdfium.PdfDocument.new()
    for _ in range(pages):
        doc.new_page(width, height)
    doc.save(str(path))
    doc.close()


def text_scan(path: Path, lines: list[str], fmt: str = "PNG") -> None:
    """A page of printed text at 200 dpi, what Tesseract reads in a few seconds."""
    im = Image.new("RGB", (1654, 1200), "white")
    draw = ImageDraw.Draw(im)
    font = ImageFont.truetype(FONT, 40)
    for i, line in enumerate(lines):
        draw.text((120, 120 + i * 80), line, fill="black", font=font)
    im.save(path, fmt, dpi=(200, 200))


def quarantine_rows(url):
    rows = fetch_all(url, """SELECT f.file_name, f.status, f.sha256, q.stage, q.reason, q.payload::text,
                                    q.payload_ref, f.reason
                             FROM ops.scan_file f LEFT JOIN ops.quarantine q
                               ON q.source_key = f.source_uri AND q.source = 'scan.' || f.drop_zone
                             ORDER BY f.file_name""")
    return {r[0]: r for r in rows}


@pytest.fixture(scope="module")
def env(tmp_path_factory, make_database):
    mp = pytest.MonkeyPatch()
    base = tmp_path_factory.mktemp("limits")
    drop = base / "drop"
    (drop / "sub").mkdir(parents=True)
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.pdf").write_bytes(b"%PDF-1.4\n% " + SECRET.encode() + b"\n%%EOF\n")
    work = base / "work"
    mp.setenv("TTHC_WORK_DIR", str(work))
    mp.setenv("TTHC_OCR_WORKERS", "2")
    mp.setenv("TTHC_SCAN_MAX_PAGES", "5")
    mp.setenv("TTHC_SCAN_MAX_FILE_MB", "1")

    text_scan(drop / "good.png", ["GIẤY KHAI SINH", "Số: 12/2024", "Họ và tên: Nguyễn Văn An"])
    bomb_png(drop / "bomb.png")
    blank_pdf(drop / "poster.pdf", 1, 14400, 14400)
    pdf_with_huge_image(drop / "hidden_bomb.pdf")
    blank_pdf(drop / "register.pdf", 6)
    (drop / "big.tif").write_bytes(b"II*\x00" + os.urandom(1536 * 1024))
    os.symlink("/etc/passwd", drop / "passwd.pdf")
    os.symlink(outside / "secret.pdf", drop / "sub" / "secret.pdf")
    os.symlink(base / "nowhere.pdf", drop / "dangling.pdf")
    os.symlink(outside, drop / "outside_folder")
    os.symlink(drop / "good.png", drop / "sub" / "same_as_good.png")   # inside the zone: taken
    (drop / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (drop / ".sync").mkdir()
    text_scan(drop / ".sync" / "partial.png", ["half written"])

    yaml_path = base / "limits_drop.yaml"
    yaml_path.write_text(textwrap.dedent(f"""\
        name: limits_drop
        location: {drop}
        archive: {base / 'archive'}
        stability: {{min_age_seconds: 0}}
        """), encoding="utf-8")
    zone = load_drop(yaml_path)
    url = make_database("limits", migrated=True)
    first = run_drop(zone, url)
    yield {"url": url, "zone": zone, "drop": drop, "base": base, "work": work, "first": first}
    mp.undo()


def test_every_file_over_a_limit_is_quarantined_with_the_limit_named(env):
    got = quarantine_rows(env["url"])
    expected = {
        "bomb.png": ("too_many_pixels", "TTHC_SCAN_MAX_IMAGE_PIXELS"),
        "hidden_bomb.pdf": ("too_many_pixels", "TTHC_SCAN_MAX_IMAGE_PIXELS"),
        "poster.pdf": ("page_too_large", "TTHC_SCAN_MAX_PAGE_POINTS"),
        "register.pdf": ("too_many_pages", "TTHC_SCAN_MAX_PAGES"),
        "big.tif": ("too_large", "TTHC_SCAN_MAX_FILE_MB"),
    }
    for name, (reason, setting) in expected.items():
        assert name in got, f"{name} was not recorded"
        _, status, _, stage, text, _, ref, file_reason = got[name]
        assert status == "quarantined" and stage == "intake", (name, status, stage)
        assert text.startswith(reason) and setting in text and text == file_reason, (name, text)
    assert "400,000,000 pixels" in got["bomb.png"][4]
    assert "14,400 x 14,400 pt" in got["poster.pdf"][4]
    assert "page 1 holds a 20,000 x 20,000" in got["hidden_bomb.pdf"][4]
    # Above the size limit: never read, so no hash and nothing archived.
    assert got["big.tif"][2] is None
    # Refused before the archive step: only the good scan is archived; the others stay in the drop.
    archived = [p for p in (env["base"] / "archive").rglob("*") if p.is_file()]
    assert len(archived) == 1 and archived[0].suffix == ".png", archived
    assert all((env["drop"] / name).exists() for name in expected)


def test_the_rest_of_the_batch_goes_on(env):
    got = quarantine_rows(env["url"])
    good = got["good.png"]
    assert good[1] in ("linked", "review"), good
    pages = fetch_all(env["url"], """SELECT p.method, length(p.text) FROM ops.scan_file f
                                     JOIN core.document_page p ON p.document_id = f.document_id
                                     WHERE f.file_name = 'good.png'""")
    assert pages and pages[0][0] == "ocr" and pages[0][1] > 10, pages
    # Every file of the drop is recorded once (hidden ones aside), and the batch closed.
    names = {n for n in got}
    assert names == {"good.png", "bomb.png", "hidden_bomb.pdf", "poster.pdf", "register.pdf", "big.tif", "passwd.pdf",
                     "sub/secret.pdf", "dangling.pdf", "outside_folder", "sub/same_as_good.png"}, names
    status = fetch_all(env["url"], "SELECT status FROM ops.batch WHERE source = 'scan.limits_drop'")
    assert status == [("succeeded",)]


def test_symlinks_leaving_the_drop_are_quarantined_unread(env):
    got = quarantine_rows(env["url"])
    for name in ("passwd.pdf", "sub/secret.pdf", "dangling.pdf", "outside_folder"):
        _, status, sha, stage, text, payload, ref, _ = got[name]
        assert status == "quarantined" and sha is None, (name, status, sha)
        assert text.startswith("symlink_outside_drop: "), (name, text)
    assert "/etc/passwd" in got["passwd.pdf"][4] and "outside the drop" in got["passwd.pdf"][4]
    assert "does not exist" in got["dangling.pdf"][4]
    # Not a byte of the targets anywhere in the warehouse.
    dump = fetch_all(env["url"], """SELECT concat_ws(' ', (SELECT string_agg(q::text, ' ') FROM ops.quarantine q),
                                                    (SELECT string_agg(f::text, ' ') FROM ops.scan_file f),
                                                    (SELECT string_agg(e::text, ' ') FROM ops.object_event e))""")[0][0]
    assert SECRET not in dump and "root:x:0:0" not in dump


def test_a_symlink_inside_the_drop_is_taken_like_its_target(env):
    got = quarantine_rows(env["url"])
    link, target = got["sub/same_as_good.png"], got["good.png"]
    assert {link[1], target[1]} <= {"duplicate", "linked", "review"} and "duplicate" in (link[1], target[1])
    assert link[2] == target[2] and link[3] is None


def test_hidden_files_are_reported_as_ignored_with_the_rule(env, caplog):
    ignored = fetch_all(env["url"], "SELECT detail->'ignored' FROM ops.batch WHERE source = 'scan.limits_drop'")[0][0]
    by_name = {i["name"]: i["rule"] for i in ignored}
    assert set(by_name) == {".DS_Store", ".sync/"}, by_name
    assert all(rule.startswith("hidden: a name starting with '.'") for rule in by_name.values())
    assert env["first"]["ignored"] == ignored
    names = [r[0] for r in fetch_all(env["url"], "SELECT file_name FROM ops.scan_file")]
    assert not any(n.startswith(".") or "/." in n for n in names)


def test_a_rerun_changes_nothing_and_does_not_fail(env):
    before = fetch_all(env["url"], "SELECT file_id, status, sha256, reason FROM ops.scan_file ORDER BY file_id")
    quarantined = fetch_all(env["url"], "SELECT count(*) FROM ops.quarantine")
    again = run_drop(env["zone"], env["url"])
    assert again["processed_this_run"] == 0 and again["quarantined_this_run"] == 0
    assert fetch_all(env["url"], "SELECT file_id, status, sha256, reason FROM ops.scan_file ORDER BY file_id") == before
    assert fetch_all(env["url"], "SELECT count(*) FROM ops.quarantine") == quarantined


def test_temporary_copies_live_under_the_work_dir_and_are_gone_after_the_run(env):
    scans = env["work"] / "scans"
    assert scans.is_dir() and oct(scans.stat().st_mode & 0o777) == "0o700"
    assert list(scans.iterdir()) == []


def test_a_run_with_nothing_new_removes_a_crash_leftover_and_spares_live_ones(env):
    scans = env["work"] / "scans"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    crashed = scans / f"tthc-scan-{dead.pid}-abc123"
    crashed.mkdir()
    (crashed / "copy.png").write_bytes(b"personal data")
    live = scans / f"tthc-scan-{os.getpid()}-def456"   # a sibling task still working
    live.mkdir()
    try:
        again = run_drop(env["zone"], env["url"])
        assert again["files_listed"] == 0
        assert not crashed.exists() and live.exists()
    finally:
        live.rmdir()


def test_a_large_page_is_rendered_within_the_pixel_limit(tmp_path):
    from tthc.scans.text import plan_pages

    path = tmp_path / "a0.pdf"
    blank_pdf(path, 1, 3370, 2384)   # A0 landscape: 140 M pixels at 300 dpi
    plan = plan_pages(path.read_bytes(), "application/pdf", str(path), min_text_chars=40, ocr_dpi=300, lang="vie",
                      max_pixels=100_000_000)
    (page,) = plan.pages
    assert page.job is not None and page.dpi < 300
    assert (3370 / 72 * page.dpi) * (2384 / 72 * page.dpi) <= 100_000_000


def _children(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is pid, from /proc."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_kill_9_mid_ocr_leaves_no_worker_and_the_rerun_removes_the_copies(tmp_path, make_database):
    drop = tmp_path / "drop"
    drop.mkdir()
    for i in range(8):
        text_scan(drop / f"scan_{i}.png", ["GIẤY KHAI SINH", f"Số: {i + 1}/2024", f"Họ và tên: Trần Thị {i}",
                                             "Nơi sinh: Đồng Tháp"] * 3)
    yaml_path = tmp_path / "kill_drop.yaml"
    yaml_path.write_text(textwrap.dedent(f"""\
        name: kill_drop
        location: {drop}
        archive: {tmp_path / 'archive'}
        stability: {{min_age_seconds: 0}}
        """), encoding="utf-8")
    url = make_database("killocr", migrated=True)
    work = tmp_path / "work"
    env = dict(os.environ, TTHC_WORK_DIR=str(work), TTHC_OCR_WORKERS="2")
    script = ("import sys; from pathlib import Path; from tthc.scans.config import load_drop; "
              "from tthc.scans.intake import run_drop; run_drop(load_drop(Path(sys.argv[1])), sys.argv[2])")
    run = subprocess.Popen([sys.executable, "-c", script, str(yaml_path), url], env=env)
    workers: list[int] = []
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and run.poll() is None:
            workers = _children(run.pid)
            copies = list((work / "scans").glob("tthc-scan-*/*.png")) if (work / "scans").is_dir() else []
            if len(workers) >= 2 and copies:
                break
            time.sleep(0.2)
        assert run.poll() is None and len(workers) >= 2, "the run ended before its OCR workers could be seen"
        time.sleep(1.0)   # mid-OCR: workers busy with pages
        os.kill(run.pid, signal.SIGKILL)
        run.wait(10)
    finally:
        if run.poll() is None:
            run.kill()
    gone_by = time.monotonic() + 5
    while time.monotonic() < gone_by and any(_alive(w) for w in workers):
        time.sleep(0.1)
    assert not [w for w in workers if _alive(w)], f"OCR workers {workers} outlived their killed parent"
    leftovers = list((work / "scans").glob(f"tthc-scan-{run.pid}-*"))
    assert leftovers, "the killed run should have left its temporary folder"

    mp = pytest.MonkeyPatch()
    mp.setenv("TTHC_WORK_DIR", str(work))
    mp.setenv("TTHC_OCR_WORKERS", "2")
    try:
        run_drop(load_drop(yaml_path), url)
    finally:
        mp.undo()
    assert not any(p.exists() for p in leftovers), "the rerun did not remove the killed run's copies"
    assert list((work / "scans").iterdir()) == []
    rows = fetch_all(url, "SELECT file_name, count(*), min(status), max(status) FROM ops.scan_file GROUP BY 1")
    assert len(rows) == 8 and all(n == 1 and lo in ("linked", "review") and lo == hi for _, n, lo, hi in rows), rows


def test_a_file_swapped_for_an_escaping_link_after_listing_is_not_read(tmp_path):
    from tthc.scans.storage import LocalStore, RefusedPath

    drop, outside = tmp_path / "drop", tmp_path / "outside"
    drop.mkdir()
    outside.mkdir()
    (outside / "secret.pdf").write_text(SECRET)
    (drop / "scan.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    store = LocalStore(str(drop))
    (listed,) = list(store.list())
    assert listed.refused is None
    (drop / "scan.pdf").unlink()
    os.symlink(outside / "secret.pdf", drop / "scan.pdf")
    with pytest.raises(RefusedPath) as err:
        store.read(listed.uri)
    assert "outside the drop" in str(err.value) and SECRET not in str(err.value)
