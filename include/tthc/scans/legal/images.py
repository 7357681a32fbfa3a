"""Image scans wrapped into one PDF 1.4 without touching their pixels (JPEG bytes embedded as they
are, other images losslessly)."""

from __future__ import annotations

import io
import zlib

from PIL import Image

from tthc.scans.legal.quality import _image_dpi


def images_to_pdf(images: list[bytes], dpi: float | None = None) -> bytes:
    """One PDF 1.4 page per image (per frame of a multi-page TIFF), sized from the image's dpi.

    Pixels are kept: JPEG data is embedded unchanged (DCTDecode); other images are stored
    losslessly (FlateDecode, 1-bit, grey or RGB). ``dpi`` overrides the images' own dpi;
    without it every image must carry dpi metadata. Output is deterministic (no dates).
    """
    if not images:
        raise ValueError("images_to_pdf: no images given")
    objs: list[bytes] = []   # object bodies; object number = index + 1

    def add(body: bytes) -> int:
        objs.append(body)
        return len(objs)

    def stream(dict_body: str, payload: bytes) -> bytes:
        return f"<< {dict_body} /Length {len(payload)} >>\nstream\n".encode() + payload + b"\nendstream"

    add(b"")  # 1: catalog, filled in at the end
    add(b"")  # 2: page tree
    kids: list[int] = []
    for n, data in enumerate(images):
        if not data:
            raise ValueError(f"images_to_pdf: image {n} is empty")
        try:
            im = Image.open(io.BytesIO(data))
        except Exception as exc:  # noqa: BLE001
            raise ValueError(f"images_to_pdf: image {n} is not a readable image: {exc}") from None
        for frame in range(getattr(im, "n_frames", 1)):
            im.seek(frame)
            res = dpi or _image_dpi(im)
            if not res:
                raise ValueError(f"images_to_pdf: image {n} has no dpi metadata; pass dpi=")
            res = round(float(res), 2)
            if im.format == "JPEG" and im.mode in ("L", "RGB") and frame == 0:
                cs = "/DeviceGray" if im.mode == "L" else "/DeviceRGB"
                body = stream(f"/Type /XObject /Subtype /Image /Width {im.width} /Height {im.height} "
                              f"/ColorSpace {cs} /BitsPerComponent 8 /Filter /DCTDecode", data)
            else:
                px = im
                if px.mode in ("RGBA", "LA", "PA") or (px.mode == "P" and "transparency" in px.info):
                    bg = Image.new("RGB", px.size, (255, 255, 255))
                    bg.paste(px.convert("RGBA"), mask=px.convert("RGBA").getchannel("A"))
                    px = bg
                elif px.mode == "P":
                    px = px.convert("RGB")
                elif px.mode in ("I", "I;16", "F"):
                    px = px.convert("L")
                elif px.mode not in ("1", "L", "RGB"):
                    px = px.convert("RGB")
                cs, bpc = ("/DeviceRGB", 8) if px.mode == "RGB" else ("/DeviceGray", 1 if px.mode == "1" else 8)
                body = stream(f"/Type /XObject /Subtype /Image /Width {px.width} /Height {px.height} "
                              f"/ColorSpace {cs} /BitsPerComponent {bpc} /Filter /FlateDecode",
                              zlib.compress(px.tobytes(), 6))
            img_no = add(body)
            w_pt, h_pt = im.width * 72.0 / res, im.height * 72.0 / res
            content = f"q {w_pt:.4f} 0 0 {h_pt:.4f} 0 0 cm /Im0 Do Q".encode()
            c_no = add(stream("", content))
            page_no = add(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {w_pt:.4f} {h_pt:.4f}] "
                          f"/Resources << /XObject << /Im0 {img_no} 0 R >> >> /Contents {c_no} 0 R >>".encode())
            kids.append(page_no)
    objs[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objs[1] = f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] /Count {len(kids)} >>".encode()
    info = add(b"<< /Producer (tthc.scans.legal.images_to_pdf) >>")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(out.tell())
        out.write(f"{i} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R /Info {info} 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()
