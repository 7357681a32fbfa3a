"""Scans of paper results for the scan drop: text PDFs, image PDFs, JPEG/TIFF/PNG, broken files.

Every page looks like a real result: the national motto, the issuing agency, a
title such as "GIẤY KHAI SINH", then "Label: value" lines, a signature block and
a stamp. Text is set in DejaVu Sans (it has the Vietnamese diacritics) at 13 pt,
large enough for Tesseract ``vie`` at 200-300 dpi.

All output is byte-reproducible: reportlab runs with ``invariant=1``; Pillow PDFs
get fixed dates; noise comes from the generator's own random stream (not from
Pillow's ``effect_noise``, which uses the C library's unseeded ``rand()``).
"""

from __future__ import annotations

import io
import random
import time
from datetime import date
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT_REGULAR = FONT_DIR / "DejaVuSans.ttf"
FONT_BOLD = FONT_DIR / "DejaVuSans-Bold.ttf"
FIXED_PDF_TIME = time.struct_time((2025, 12, 31, 0, 0, 0, 2, 365, 0))
A4_PT = (595.28, 841.89)

TITLES = {
    "KS": "GIẤY KHAI SINH",
    "KH": "GIẤY CHỨNG NHẬN KẾT HÔN",
    "KT": "TRÍCH LỤC KHAI TỬ",
    "XNHN": "GIẤY XÁC NHẬN TÌNH TRẠNG HÔN NHÂN",
    "HKD": "GIẤY CHỨNG NHẬN ĐĂNG KÝ HỘ KINH DOANH",
    "GPXD": "GIẤY PHÉP XÂY DỰNG",
    "BLR": "GIẤY PHÉP BÁN LẺ SẢN PHẨM RƯỢU",
    "ATTP": "GIẤY CHỨNG NHẬN CƠ SỞ ĐỦ ĐIỀU KIỆN AN TOÀN THỰC PHẨM",
    "DKDN": "GIẤY CHỨNG NHẬN ĐĂNG KÝ DOANH NGHIỆP",
}
MOTTO = ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc")


def _dmy(o: int) -> str:
    d = date.fromordinal(o)
    return f"{d.day:02d}/{d.month:02d}/{d.year}"


def _id_label(p: dict) -> str:
    return "Số định danh cá nhân" if p["pid_kind"] == "cccd" else "Số CMND"


def page_lines(rec: dict, namer, province_name: str) -> list[tuple[str, str]]:
    """The text of a result page as (style, text) lines. Styles: motto, agency, title, field, sign."""
    year = rec["year"]
    agency = namer.agency_name(rec["agency"], year)
    p = rec["person"]
    proc = rec["proc"]
    lines: list[tuple[str, str]] = [("motto", MOTTO[0]), ("motto", MOTTO[1]), ("agency", agency.upper()), ("title", TITLES[proc])]
    f = lines.append
    f(("field", f"Số: {rec['number']}"))
    if rec.get("book"):
        f(("field", f"Quyển số: {rec['book']}"))
    c = rec["commune"]
    dname, _ = namer.district_name(c.district_code, year)
    place = f"Ủy ban nhân dân {c.name[0].lower() + c.name[1:]}, {dname[0].lower() + dname[1:]}, {province_name[:1].lower() + province_name[1:]}"
    if proc in ("KS", "KT", "XNHN"):
        label = "Họ và tên người chết" if proc == "KT" else "Họ và tên"
        f(("field", f"{label}: {p['name']}"))
        f(("field", f"Giới tính: {'Nam' if p['gender'] == 'M' else 'Nữ'}"))
        f(("field", f"Ngày sinh: {_dmy(p['birth'])}"))
        f(("field", f"{_id_label(p)}: {p['pid']}"))
        if proc == "XNHN":
            f(("field", "Tình trạng hôn nhân: Chưa đăng ký kết hôn với ai"))
            f(("field", f"Có giá trị sử dụng đến ngày: {_dmy(rec['valid_until'])}"))
        f(("field", f"Nơi đăng ký: {place}"))
    elif proc == "KH":
        p2 = rec["person2"]
        f(("field", f"Họ và tên chồng: {p['name']}"))
        f(("field", f"Ngày sinh: {_dmy(p['birth'])}"))
        f(("field", f"{_id_label(p)}: {p['pid']}"))
        f(("field", f"Họ và tên vợ: {p2['name']}"))
        f(("field", f"Ngày sinh: {_dmy(p2['birth'])}"))
        f(("field", f"{_id_label(p2)}: {p2['pid']}"))
        f(("field", f"Nơi đăng ký: {place}"))
    elif proc in ("HKD", "BLR", "ATTP"):
        label = {"HKD": "Tên hộ kinh doanh", "BLR": "Tên thương nhân", "ATTP": "Tên cơ sở"}[proc]
        f(("field", f"{label}: {rec['business_name']}"))
        f(("field", f"{'Chủ hộ' if proc == 'HKD' else 'Chủ cơ sở'}: {p['name']}"))
        f(("field", f"{_id_label(p)}: {p['pid']}"))
        if rec.get("mst"):
            f(("field", f"Mã số thuế: {rec['mst']}"))
        if rec.get("trade"):
            f(("field", f"Ngành nghề kinh doanh: {rec['trade']}"))
        f(("field", f"Địa chỉ: {rec['address']}"))
        if rec.get("valid_until"):
            f(("field", f"Có giá trị đến ngày: {_dmy(rec['valid_until'])}"))
    elif proc == "GPXD":
        f(("field", f"Chủ đầu tư: {p['name']}"))
        f(("field", f"{_id_label(p)}: {p['pid']}"))
        f(("field", f"Địa điểm xây dựng: {rec['address']}"))
        f(("field", f"Diện tích xây dựng: {rec['area']} m²; số tầng: {rec['floors']}"))
        f(("field", "Thời hạn khởi công: 12 tháng kể từ ngày cấp"))
    elif proc == "DKDN":
        f(("field", f"Tên doanh nghiệp: {rec['business_name']}"))
        f(("field", f"Mã số doanh nghiệp: {rec['mst']}"))
        f(("field", f"Địa chỉ trụ sở chính: {rec['address']}"))
        f(("field", f"Người đại diện theo pháp luật: {p['name']}"))
    f(("field", f"Ngày cấp: {_dmy(rec['issue'])}"))
    f(("field", f"Cơ quan cấp: {agency}"))
    f(("sign", "TM. " + agency.split(" nhân dân")[0].upper() + " NHÂN DÂN" if "nhân dân" in agency else "GIÁM ĐỐC"))
    return lines


# ------------------------------------------------------------------ text-layer PDF (reportlab)

_RL_FONTS_READY = False


def _rl_fonts() -> None:
    global _RL_FONTS_READY
    if _RL_FONTS_READY:
        return
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    pdfmetrics.registerFont(TTFont("DejaVuSans", str(FONT_REGULAR)))
    pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(FONT_BOLD)))
    _RL_FONTS_READY = True


def _wrap(text: str, width: float, measure) -> list[str]:
    words = text.split(" ")
    out, cur = [], ""
    for w in words:
        cand = f"{cur} {w}" if cur else w
        if measure(cand) <= width or not cur:
            cur = cand
        else:
            out.append(cur)
            cur = w
    if cur:
        out.append(cur)
    return out


STYLE = {  # (bold, size pt, centered, space before pt)
    "motto": (True, 13, True, 0),
    "agency": (True, 12, True, 10),
    "title": (True, 17, True, 22),
    "field": (False, 13, False, 7),
    "sign": (True, 12, False, 24),
}


def _scan_moment(scanned_at: str | None):
    """ISO 8601 scan time -> (local datetime with offset, UTC struct_time); None -> the fixed date."""
    if not scanned_at:
        return None, FIXED_PDF_TIME
    from datetime import datetime, timezone

    local = datetime.fromisoformat(scanned_at)
    return local, local.astimezone(timezone.utc).timetuple()


def text_pdf_bytes(lines, *, signer: str, encrypt_password: str | None = None, scanned_at: str | None = None) -> bytes:
    """A born-digital PDF with a text layer; /CreationDate is the scan time when given."""
    _rl_fonts()
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.pdfgen import canvas

    enc = None
    if encrypt_password:
        from reportlab.lib import pdfencrypt

        enc = pdfencrypt.StandardEncryption(encrypt_password, canPrint=0, canCopy=0, canModify=0, canAnnotate=0)
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4_PT, invariant=1, encrypt=enc, pageCompression=1)
    c.setTitle("")
    c.setCreator("")
    local, _ = _scan_moment(scanned_at)
    if local is not None:  # invariant mode fixes 2000-01-01; the scan date is data the intake reads
        stamp = c._doc._timeStamp
        off = int(local.utcoffset().total_seconds())
        stamp.YMDhms = (local.year, local.month, local.day, local.hour, local.minute, local.second)
        stamp.dhh, stamp.dmm = off // 3600, (off % 3600) // 60
    w, h = A4_PT
    margin = 62
    y = h - 60
    for style, text in lines:
        bold, size, center, before = STYLE[style]
        font = "DejaVuSans-Bold" if bold else "DejaVuSans"
        y -= before
        for part in _wrap(text, w - 2 * margin, lambda s, f=font, z=size: stringWidth(s, f, z)):
            y -= size * 1.35
            c.setFont(font, size)
            if center:
                c.drawCentredString(w / 2, y, part)
            elif style == "sign":
                c.drawCentredString(w * 0.7, y, part)
            else:
                c.drawString(margin, y, part)
    c.setFont("DejaVuSans-Bold", 12)
    c.drawCentredString(w * 0.7, y - 70, signer)
    c.setStrokeColorRGB(0.8, 0.1, 0.1)
    c.setLineWidth(2)
    c.circle(w * 0.62, y - 20, 42, stroke=1, fill=0)
    c.showPage()
    c.save()
    return buf.getvalue()


# ------------------------------------------------------------------ raster scans (Pillow)


@lru_cache(maxsize=32)
def _font(bold: bool, px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_BOLD if bold else FONT_REGULAR), px)


def render_page(lines, *, signer: str, dpi: int, color: bool) -> Image.Image:
    s = dpi / 72.0
    w, h = round(A4_PT[0] * s), round(A4_PT[1] * s)
    paper = (250, 248, 240) if color else 250
    ink = (25, 25, 70) if color else 20
    im = Image.new("RGB" if color else "L", (w, h), paper)
    d = ImageDraw.Draw(im)
    margin = 62 * s
    y = 60 * s
    for style, text in lines:
        bold, size, center, before = STYLE[style]
        font = _font(bold, round(size * s))
        y += before * s
        for part in _wrap(text, w - 2 * margin, font.getlength):
            tw = font.getlength(part)
            x = (w - tw) / 2 if center else (w * 0.7 - tw / 2 if style == "sign" else margin)
            d.text((x, y), part, font=font, fill=ink)
            y += size * 1.35 * s
    font = _font(True, round(12 * s))
    d.text((w * 0.7 - font.getlength(signer) / 2, y + 55 * s), signer, font=font, fill=ink)
    r = 42 * s
    cx, cy = w * 0.62, y + 5 * s
    d.ellipse((cx - r, cy - r, cx + r, cy + r), outline=(200, 30, 30) if color else 90, width=max(2, round(2 * s)))
    return im


def degrade(im: Image.Image, rng: random.Random, *, noisy: bool, skew: float, rotation: int) -> Image.Image:
    """Scanner artefacts: speckle noise, a small skew, a page fed sideways."""
    if noisy:
        # Dust specks (~0.4% of pixels) and a grey band where the scanner lid did not close.
        w, h = im.size
        noise = Image.frombytes("L", (w, h), rng.randbytes(w * h))
        speck = noise.point([40 if v == 0 else 255 for v in range(256)])
        d = ImageDraw.Draw(speck)
        band = max(4, w // 60)
        x0 = int(rng.random() * (w - band))
        d.rectangle((x0, 0, x0 + band, h), fill=215)
        if im.mode == "RGB":
            speck = speck.convert("RGB")
        im = ImageChops.darker(im, speck)
    if skew:
        fill = (255, 255, 255) if im.mode == "RGB" else 255
        im = im.rotate(skew, resample=Image.Resampling.NEAREST, expand=True, fillcolor=fill)
    if rotation == 90:
        im = im.transpose(Image.Transpose.ROTATE_90)
    elif rotation == 270:
        im = im.transpose(Image.Transpose.ROTATE_270)
    elif rotation == 180:
        im = im.transpose(Image.Transpose.ROTATE_180)
    return im


def image_bytes(im: Image.Image, fmt: str, dpi: int, scanned_at: str | None = None) -> bytes:
    """Encoded scan; the scan time goes into PDF /CreationDate or EXIF DateTime (0x0132, local time)."""
    buf = io.BytesIO()
    local, utc = _scan_moment(scanned_at)
    exif = Image.Exif()
    if local is not None:
        exif[0x0132] = local.strftime("%Y:%m:%d %H:%M:%S")
    if fmt == "pdf":
        im.save(buf, "PDF", resolution=float(dpi), creationDate=utc, modDate=utc, quality=80)
    elif fmt == "jpeg":
        im.save(buf, "JPEG", quality=80, dpi=(dpi, dpi), exif=exif)
    elif fmt == "tiff":
        im.save(buf, "TIFF", compression="tiff_lzw", dpi=(dpi, dpi), exif=exif)
    elif fmt == "png":
        im.save(buf, "PNG", dpi=(dpi, dpi), compress_level=3, exif=exif)
    else:
        raise ValueError(fmt)
    return buf.getvalue()


# ------------------------------------------------------------------ tasks (one file each)


def render_task(task: dict) -> None:
    """Write one scan-drop file. ``task`` holds everything needed (lines, signer, artefacts)."""
    import random as _random

    path = Path(task["path"])
    lines, signer, seed = task["lines"], task["signer"], task["seed"]
    rng = _random.Random(f"{seed}:scans:file:{task['name']}")
    if lines is not None:
        rng.random()  # the signer draw, made by the planner
    kind = task["type"]
    if kind == "broken":
        reason = task["reason"]
        if reason == "empty_file":
            data = b""
        elif reason == "truncated_pdf":
            full = text_pdf_bytes(lines, signer=signer)
            data = full[: int(len(full) * 0.55)]
        elif reason == "encrypted_pdf":
            data = text_pdf_bytes(lines, signer=signer, encrypt_password=f"tthc-{seed}")
        else:  # wrong_extension: a JPEG named .pdf
            data = image_bytes(render_page(lines, signer=signer, dpi=200, color=True), "jpeg", 200)
    elif kind == "text_pdf":
        data = text_pdf_bytes(lines, signer=signer, scanned_at=task.get("scanned_at"))
    else:
        im = render_page(lines, signer=signer, dpi=task["dpi"], color=task["color"] == "rgb")
        im = degrade(im, rng, noisy=task["noisy"], skew=task["skew"], rotation=task["rotation"])
        data = image_bytes(im, {"image_pdf": "pdf", "jpeg": "jpeg", "tiff": "tiff", "png": "png"}[kind], task["dpi"],
                           scanned_at=task.get("scanned_at"))
    path.write_bytes(data)


PARALLEL_MIN_TASKS = 10


def render_tasks(tasks: list[dict], work_dir: Path) -> None:
    """Render every task; above a few files, every other one is rendered by a helper process."""
    import pickle
    import subprocess
    import sys

    if len(tasks) < PARALLEL_MIN_TASKS:
        for t in tasks:
            render_task(t)
        return
    batch = work_dir / ".scan_tasks.pkl"
    with batch.open("wb") as fh:
        pickle.dump(tasks[1::2], fh, protocol=pickle.HIGHEST_PROTOCOL)
    from tthc_dev.demo_data.sources import child_env

    proc = subprocess.Popen([sys.executable, "-m", "tthc_dev.demo_data.scans", str(batch)], env=child_env())
    try:
        for t in tasks[0::2]:
            render_task(t)
    finally:
        code = proc.wait()
        batch.unlink(missing_ok=True)
    if code != 0:
        raise RuntimeError(f"the scan-rendering helper process failed (exit code {code})")


def _main(argv: list[str]) -> int:
    import pickle

    with open(argv[0], "rb") as fh:
        tasks = pickle.load(fh)
    for t in tasks:
        render_task(t)
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(_main(sys.argv[1:]))


# ------------------------------------------------------------------ official-template layouts
#
# Pages laid out like the forms of Thông tư 15/2015/TT-BTP and 04/2020/TT-BTP (and the older
# "Họ và tên" papers still in the archives), business and permit papers: the agency block top-left
# beside the national motto, "Số: … Quyển số: …" on one line, several labels per line, the other
# people on the page (mother, father, declarant, signer), dates in words. A layout is a list of rows;
# a row is a list of cells (style, text, x as a share of the page width, anchor 'l' or 'c').
# tthc_dev.demo_data.scans.layout_drop writes a drop of such pages with its ground truth;
# bench/bench_scan_fields.py measures the extraction on it. HELD_OUT layouts are used by no test.

FONT_FILES = {  # family: (regular, bold); every one covers the Vietnamese alphabet
    "DejaVuSans": ("dejavu/DejaVuSans.ttf", "dejavu/DejaVuSans-Bold.ttf"),
    "DejaVuSerif": ("dejavu/DejaVuSerif.ttf", "dejavu/DejaVuSerif-Bold.ttf"),
    "DejaVuSansCondensed": ("dejavu/DejaVuSansCondensed.ttf", "dejavu/DejaVuSansCondensed-Bold.ttf"),
    "LiberationSerif": ("liberation2/LiberationSerif-Regular.ttf", "liberation2/LiberationSerif-Bold.ttf"),
    "LiberationSans": ("liberation2/LiberationSans-Regular.ttf", "liberation2/LiberationSans-Bold.ttf"),
}
FONT_ROOT = Path("/usr/share/fonts/truetype")

CIVIL_LAYOUTS = ("tt04_2020", "tt04_2020_compact", "tt15_2015", "pre2016", "trich_luc", "no_header")
BUSINESS_LAYOUTS = ("business_2020", "business_old", "business_compact")
# Layouts no test tunes the rules against: the benchmark reports them apart.
HELD_OUT = {"tt04_2020_compact", "no_header", "business_compact"}
LAYOUTS = {code: CIVIL_LAYOUTS if code in ("KS", "KH", "KT", "XNHN") else BUSINESS_LAYOUTS for code in TITLES}


def installed_fonts() -> list[str]:
    return [f for f, (r, b) in FONT_FILES.items() if (FONT_ROOT / r).exists() and (FONT_ROOT / b).exists()]


_MOTHERS = ["Nguyễn Thị Hoa", "Trần Thị Mai", "Lê Thị Hồng", "Phạm Thị Lan", "Võ Thị Kim Cúc", "Huỳnh Thị Ngọc Ánh"]
_FATHERS = ["Nguyễn Văn Hải", "Trần Minh Tuấn", "Lê Hoàng Phúc", "Phạm Văn Lợi", "Võ Thanh Sơn", "Đặng Hữu Nghĩa"]
_DECLARANTS = ["Trần Văn Bé", "Lê Thị Út", "Nguyễn Hữu Tài", "Phan Thị Diệu"]
_SIGNERS = ["Lê Gia Minh", "Nguyễn Thanh Tùng", "Trương Văn Hậu", "Đỗ Thị Bích"]


def _words_date(o: int, slip: bool) -> str:
    d = date.fromordinal(o)
    return f"ngày {d.day:02d} tháng {d.month:02d} {'nắm' if slip else 'năm'} {d.year}"


def _place(rec: dict, namer, province_name: str) -> str:
    c = rec["commune"]
    dname, _ = namer.district_name(c.district_code, rec["year"])
    low = lambda s: s[0].lower() + s[1:]  # noqa: E731
    return f"Ủy ban nhân dân {low(c.name)}, {low(dname)}, {low(province_name)}"


def _agency_block(rec: dict, namer, province_name: str, layout: str) -> list[str]:
    """The agency block as printed top-left: the superior tier, then the issuer (capitals)."""
    agency = namer.agency_name(rec["agency"], rec["year"])
    if rec["agency"].level == "commune" and rec.get("commune"):
        dname, _ = namer.district_name(rec["commune"].district_code, rec["year"])
        issuer = agency.upper().replace("ỦY BAN NHÂN DÂN ", "UBND ")
        if layout in ("tt04_2020", "trich_luc", "tt04_2020_compact"):
            return [f"UBND {dname.upper()}", issuer]
        return ["ỦY BAN NHÂN DÂN", agency.upper().replace("ỦY BAN NHÂN DÂN ", "")]
    if rec["agency"].level == "district":
        return [f"UBND {province_name.upper()}", agency.upper().replace("ỦY BAN NHÂN DÂN ", "UBND ")] \
            if layout == "business_2020" else ["ỦY BAN NHÂN DÂN", agency.upper().replace("ỦY BAN NHÂN DÂN ", "")]
    return [f"UBND {province_name.upper()}", agency.upper()]


def layout_rows(rec: dict, namer, province_name: str, layout: str, rng: random.Random) -> tuple[list, dict]:
    """A page of rec in an official-template layout: (rows, what it prints for the ground truth)."""
    p, proc = rec["person"], rec["proc"]
    agency = namer.agency_name(rec["agency"], rec["year"])
    place = _place(rec, namer, province_name) if rec.get("commune") else None
    words_slip = rng.random() < 0.5
    rows: list[list[tuple]] = []
    R = rows.append
    block = _agency_block(rec, namer, province_name, layout)
    if layout == "no_header":  # the agency block torn off / unreadable: only the motto
        block = ["", ""]
    R([("agency", block[0], 0.22, "c"), ("motto", MOTTO[0], 0.69, "c")])
    R([("agency", block[1], 0.22, "c"), ("motto", MOTTO[1], 0.69, "c")])
    civil = proc in ("KS", "KH", "KT", "XNHN")
    num = f"Số: {rec['number']}"
    if civil and rec.get("book"):
        if layout in ("tt04_2020", "tt04_2020_compact", "trich_luc", "no_header"):
            R([("field", num, 0.08, "l"), ("field", f"Quyển số: {rec['book']}", 0.42, "l")])
        else:
            R([("field", num, 0.08, "l")])
            R([("field", f"Quyển số: {rec['book']}", 0.08, "l")])
    R([("title", TITLES[proc] if layout != "trich_luc" or proc not in ("KS", "KT") else
        {"KS": "TRÍCH LỤC KHAI SINH", "KT": "TRÍCH LỤC KHAI TỬ"}[proc], 0.5, "c")])
    if not (civil and rec.get("book")):
        R([("field", num, 0.08, "l")])
    new = layout != "pre2016" and layout != "business_old"
    name_label = "Họ, chữ đệm, tên" if new else "Họ và tên"
    gender = "Nam" if p["gender"] == "M" else "Nữ"
    F = lambda text, x=0.08: ("field", text, x, "l")  # noqa: E731
    if layout == "trich_luc":
        R([F(f"Họ, chữ đệm, tên người yêu cầu: {rng.choice(_DECLARANTS)}")])
    if proc in ("KS", "KT", "XNHN"):
        lab = {"KS": name_label, "KT": name_label + (" người chết" if new else " người chết"),
               "XNHN": name_label}[proc]
        if layout == "tt04_2020_compact":
            R([F(f"{lab}: {p['name']}"), F(f"Giới tính: {gender}", 0.62)])
            R([F(f"Ngày, tháng, năm sinh: {_dmy(p['birth'])}"), F(f"{_id_label(p)}: {p['pid']}", 0.5)])
        else:
            R([F(f"{lab}: {p['name']}")])
            birth_label = "Ngày, tháng, năm sinh" if new else "Ngày sinh"
            R([F(f"{birth_label}: {_dmy(p['birth'])}")])
            R([F(f"Giới tính: {gender}"), F("Dân tộc: Kinh", 0.4), F("Quốc tịch: Việt Nam", 0.68)])
            R([F(f"{_id_label(p)}: {p['pid']}")])
        if proc == "KS":
            R([F(f"{'Họ, chữ đệm, tên người mẹ' if new else 'Họ và tên mẹ'}: {rng.choice(_MOTHERS)}"),
               F(f"Năm sinh: {date.fromordinal(p['birth']).year - rng.randint(20, 35)}", 0.62)])
            R([F(f"{'Họ, chữ đệm, tên người cha' if new else 'Họ và tên cha'}: {rng.choice(_FATHERS)}"),
               F(f"Năm sinh: {date.fromordinal(p['birth']).year - rng.randint(22, 40)}", 0.62)])
            R([F(f"Người đi đăng ký khai sinh: {rng.choice(_DECLARANTS)}")])
        if proc == "KT":
            R([F(f"Người đi khai tử: {rng.choice(_DECLARANTS)}")])
        if proc == "XNHN":
            R([F("Tình trạng hôn nhân: Chưa đăng ký kết hôn với ai")])
            R([F(f"Có giá trị sử dụng đến ngày: {_dmy(rec['valid_until'])}")])
        R([F(f"{'Nơi đăng ký' if layout != 'tt04_2020' else 'Nơi đăng ký khai sinh' if proc == 'KS' else 'Nơi đăng ký'}: {place}")])
    elif proc == "KH":
        p2 = rec["person2"]
        if layout in ("tt04_2020", "tt04_2020_compact", "no_header"):  # the table: label, husband, wife
            R([F("Thông tin"), ("field", "Chồng", 0.42, "l"), ("field", "Vợ", 0.72, "l")])
            R([F("Họ, chữ đệm, tên:"), ("field", p["name"], 0.42, "l"), ("field", p2["name"], 0.72, "l")])
            R([F("Ngày, tháng, năm sinh:"), ("field", _dmy(p["birth"]), 0.42, "l"),
               ("field", _dmy(p2["birth"]), 0.72, "l")])
            R([F("Dân tộc:"), ("field", "Kinh", 0.42, "l"), ("field", "Kinh", 0.72, "l")])
            R([F("Số định danh cá nhân:"), ("field", p["pid"], 0.42, "l"), ("field", p2["pid"], 0.72, "l")])
        else:
            lab = "Họ, chữ đệm, tên" if new else "Họ và tên"
            for who, q in (("chồng", p), ("vợ", p2)):
                R([F(f"{lab} {who}: {q['name']}" if not new else f"Họ và tên {who}: {q['name']}")])
                R([F(f"Ngày sinh: {_dmy(q['birth'])}"), F("Dân tộc: Kinh", 0.55)])
                R([F(f"{_id_label(q)}: {q['pid']}")])
        R([F(f"Nơi đăng ký: {place}")])
    else:
        if proc in ("HKD", "BLR", "ATTP"):
            label = {"HKD": "Tên hộ kinh doanh", "BLR": "Tên thương nhân", "ATTP": "Tên cơ sở"}[proc]
            R([F(f"{label}: {rec['business_name']}")])
            owner = "Họ và tên chủ hộ kinh doanh" if proc == "HKD" and new else ("Chủ hộ" if proc == "HKD" else "Chủ cơ sở")
            if layout == "business_compact":
                R([F(f"{owner}: {p['name']}"), F(f"Giới tính: {gender}", 0.66)])
            else:
                R([F(f"{owner}: {p['name']}")])
            R([F(f"{_id_label(p)}: {p['pid']}")])
            if rec.get("mst"):
                R([F(f"Mã số thuế: {rec['mst']}")])
            R([F(f"Địa chỉ: {rec['address']}")])
            if rec.get("valid_until"):
                R([F(f"Có giá trị đến ngày: {_dmy(rec['valid_until'])}")])
        elif proc == "GPXD":
            R([F(f"Chủ đầu tư: {p['name']}")])
            R([F(f"{_id_label(p)}: {p['pid']}")])
            R([F(f"Địa điểm xây dựng: {rec['address']}")])
            R([F(f"Diện tích xây dựng: {rec.get('area', 120)} m²"), F(f"Số tầng: {rec.get('floors', 2)}", 0.55)])
        elif proc == "DKDN":
            R([F(f"Tên doanh nghiệp: {rec['business_name']}")])
            R([F(f"Mã số doanh nghiệp: {rec['mst']}")])
            R([F(f"Địa chỉ trụ sở chính: {rec['address']}")])
            R([F(f"Người đại diện theo pháp luật: {p['name']}")])
    # The issue date: a labelled line, or only the place-and-date line above the signature.
    issue = rec["issue"]
    if layout in ("tt04_2020", "tt04_2020_compact", "no_header") and civil:
        R([F(f"Ngày, tháng, năm đăng ký: {_words_date(issue, words_slip)}")])
    elif layout in ("pre2016", "business_old"):
        R([F(f"Ngày cấp: {_dmy(issue)}")])
    short = rec["commune"].name.split(" ", 1)[-1] if rec.get("commune") else "Đồng Tháp"
    R([("field", f"{short}, {_words_date(issue, words_slip)}", 0.66, "c")])
    if layout == "business_2020":
        R([F(f"Cơ quan cấp: {agency}")])
    R([("sign", "TM. ỦY BAN NHÂN DÂN" if "nhân dân" in agency else "GIÁM ĐỐC", 0.7, "c")])
    R([F(f"Người ký: {rng.choice(_SIGNERS)}", 0.55)])
    printed = {"layout": layout, "issuing_body": agency, "unit_name": place if civil else None}
    return rows, printed


ROW_STYLE = {"motto": (True, 11, 4), "agency": (True, 11, 4), "title": (True, 16, 18), "field": (False, 12, 7),
             "sign": (True, 12, 20)}


def _row_cells(rows, measure, width: float):
    """(y offset in pt, [(x pt, text, style)]) for each row; cells anchored left or centred at x."""
    y = 56.0
    for row in rows:
        before = max(ROW_STYLE[c[0]][2] for c in row)
        size = max(ROW_STYLE[c[0]][1] for c in row)
        y += before + size * 1.3
        placed = []
        if len(row) == 1 and row[0][3] == "l" and measure(row[0][1], row[0][0]) > width * (0.93 - row[0][2]):
            # One long value: wrapped at the right margin, the rest on the next lines.
            style, text, x, _ = row[0]
            for k, part in enumerate(_wrap(text, width * (0.93 - x), lambda t: measure(t, style))):
                if k:
                    y += size * 1.3
                yield y, [(x * width, part, style)]
            continue
        for style, text, x, anchor in row:
            if not text:
                continue
            w = measure(text, style)
            placed.append((max(18.0, x * width - w / 2) if anchor == "c" else x * width, text, style))
        yield y, placed


def layout_pdf_bytes(rows, font: str) -> bytes:
    """A text-layer PDF of the rows in the font family."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    reg, bold = FONT_FILES[font]
    for name, path in ((font, reg), (font + "-Bold", bold)):
        if name not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(name, str(FONT_ROOT / path)))
    fname = lambda style: font + "-Bold" if ROW_STYLE[style][0] else font  # noqa: E731
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4_PT, invariant=1, pageCompression=1)
    w, h = A4_PT
    for y, placed in _row_cells(rows, lambda t, s: stringWidth(t, fname(s), ROW_STYLE[s][1]), w):
        for x, text, style in placed:
            c.setFont(fname(style), ROW_STYLE[style][1])
            c.drawString(x, h - y, text)
    c.showPage()
    c.save()
    return buf.getvalue()


def layout_image(rows, font: str, dpi: int, color: bool) -> Image.Image:
    s = dpi / 72.0
    w, h = round(A4_PT[0] * s), round(A4_PT[1] * s)
    im = Image.new("RGB" if color else "L", (w, h), (250, 248, 240) if color else 250)
    d = ImageDraw.Draw(im)
    reg, bold = FONT_FILES[font]
    fonts = {st: ImageFont.truetype(str(FONT_ROOT / (bold if b else reg)), round(size * s))
             for st, (b, size, _) in ROW_STYLE.items()}
    ink = (25, 25, 70) if color else 20
    for y, placed in _row_cells(rows, lambda t, st: fonts[st].getlength(t) / s, A4_PT[0]):
        for x, text, style in placed:
            size = ROW_STYLE[style][1]
            d.text((x * s, (y - size) * s), text, font=fonts[style], fill=ink)
    return im


def layout_drop(out: Path, records: list[dict], namer, province_name: str, seed: int,
                layouts: list[str] | None = None, fonts: list[str] | None = None) -> list[dict]:
    """Write one file per record in the official-template layouts (round robin over each type's
    layouts, fonts, formats, dpi, grey/colour, noise, skew) and return the ground truth of each file:
    its name, layout, font, format, and the fields it prints."""
    out.mkdir(parents=True, exist_ok=True)
    fonts = fonts or installed_fonts()
    formats = ("text_pdf", "image_pdf", "jpeg", "png")
    truth = []
    per_type: dict[str, int] = {}
    for i, rec in enumerate(records):
        rng = random.Random(f"{seed}:layout:{i}")
        choices = [x for x in LAYOUTS[rec["proc"]] if layouts is None or x in layouts]
        k = per_type[rec["proc"]] = per_type.get(rec["proc"], -1) + 1
        layout = choices[k % len(choices)]
        rows, printed = layout_rows(rec, namer, province_name, layout, rng)
        font = fonts[(k // len(choices) + i) % len(fonts)]
        fmt = formats[i % len(formats)]
        name = f"L{i:04d}_{rec['proc']}_{layout}.{ {'text_pdf': 'pdf', 'image_pdf': 'pdf', 'jpeg': 'jpg', 'png': 'png'}[fmt]}"
        dpi, color = rng.choice((150, 200, 300)), rng.random() < 0.5
        if fmt == "text_pdf":
            data = layout_pdf_bytes(rows, font)
        else:
            im = layout_image(rows, font, dpi, color)
            im = degrade(im, rng, noisy=rng.random() < 0.5, skew=rng.choice((0, 0, 0.6, -0.9, 1.3)), rotation=0)
            data = image_bytes(im, {"image_pdf": "pdf", "jpeg": "jpeg", "png": "png"}[fmt], dpi)
        (out / name).write_bytes(data)
        truth.append({"file": name, "font": font, "format": fmt, "dpi": None if fmt == "text_pdf" else dpi,
                      "color": color, "held_out": layout in HELD_OUT, **printed})
    return truth


def records_from_truth(rows: list[dict], ref) -> list[dict]:
    """Ground-truth results (ground_truth.jsonl rows) as the records page layouts print."""
    agencies = {c.agency.electronic_id: c.agency for c in ref.communes}
    agencies.update({d.agency.electronic_id: d.agency for d in ref.districts})
    agencies.update({a.electronic_id: a for a in ref.departments.values()})
    communes = {c.code: c for c in ref.communes}

    def person(r: dict, suffix: str = "") -> dict:
        return {"name": r["name" + suffix], "gender": r.get("gender" + suffix, "M"),
                "birth": date.fromisoformat(r["birth_date" + suffix]).toordinal() if r.get("birth_date" + suffix) else
                date(1980, 1, 1).toordinal(),
                "pid": r.get("person_id" + suffix) or "", "pid_kind": r.get("person_id_kind", "cccd") if not suffix
                else ("cccd" if len(r.get("person_id" + suffix) or "") == 12 else "cmnd")}

    out = []
    for r in rows:
        if r.get("kind") != "result" or r["agency_electronic_id"] not in agencies or not r.get("person_id"):
            continue
        unit = r["unit"]
        commune = communes.get(int(unit["code"])) if unit["level"] == "commune" else None
        if r["procedure_code"] in ("KS", "KH", "KT", "XNHN") and commune is None:
            continue
        issue = date.fromisoformat(r["issue_date"])
        out.append({"proc": r["procedure_code"], "year": issue.year, "agency": agencies[r["agency_electronic_id"]],
                    "commune": commune, "number": r["number"], "book": r.get("book"), "issue": issue.toordinal(),
                    "valid_until": date.fromisoformat(r["valid_until"]).toordinal() if r.get("valid_until") else None,
                    "person": person(r), "person2": person(r, "_2") if r.get("name_2") else None,
                    "business_name": r.get("business_name"), "mst": r.get("mst"), "address": r.get("address"),
                    "truth": r})
    return out
