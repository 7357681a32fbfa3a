"""Check type: what the file is by its magic bytes, and whether it stays within the resource limits
(file size, pixels per image, page size, pages per document). Nothing is decoded here: image
headers and the PDF's page tree are enough, so a decompression bomb never reaches a decoder."""

from __future__ import annotations

import io

from tthc.scans.steps.base import FileContext, Step
from tthc.scans.text import BadFile, check_file


def check_limits(name: str, data: bytes, media_type: str, limits) -> None:
    """BadFile naming the limit when the file is over one."""
    if media_type == "application/pdf":
        _check_pdf(name, data, limits)
    else:
        _check_image(name, data, limits)


def _too_many_pages(name: str, n: int, limits) -> BadFile:
    return BadFile("too_many_pages", f"{name} has {n:,} pages, above the limit of {limits.max_pages:,} "
                                     "(TTHC_SCAN_MAX_PAGES)")


def _check_image(name: str, data: bytes, limits) -> None:
    from PIL import Image, UnidentifiedImageError

    try:
        # Pillow reads only the header here; its own bomb check (at twice its limit) is off so that
        # ours, with the setting's name, is the one that speaks.
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            with Image.open(io.BytesIO(data)) as im:
                n = getattr(im, "n_frames", 1)
                if n > limits.max_pages:
                    raise _too_many_pages(name, n, limits)
                for i in range(n):
                    if i:
                        im.seek(i)
                    w, h = im.size
                    if w * h > limits.max_image_pixels:
                        where = f" (frame {i + 1})" if n > 1 else ""
                        raise BadFile("too_many_pixels",
                                      f"{name}{where} is {w:,} x {h:,} = {w * h:,} pixels, above the limit of "
                                      f"{limits.max_image_pixels:,} (TTHC_SCAN_MAX_IMAGE_PIXELS)")
        finally:
            Image.MAX_IMAGE_PIXELS = saved
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        return  # archived first, then the text step names what is wrong with it (corrupt_image)


def _check_pdf(name: str, data: bytes, limits) -> None:
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    try:
        doc = pdfium.PdfDocument(data)
    except pdfium.PdfiumError:
        return  # the text step names what is wrong with it (truncated, encrypted, corrupt)
    try:
        n = len(doc)
        if n > limits.max_pages:
            raise _too_many_pages(name, n, limits)
        for i in range(n):
            page = doc[i]
            try:
                w, h = page.get_size()
                biggest = _largest_image(page, pdfium_c)
            finally:
                page.close()
            if biggest and biggest[0] * biggest[1] > limits.max_image_pixels:
                iw, ih = biggest
                raise BadFile("too_many_pixels",
                              f"{name} page {i + 1} holds a {iw:,} x {ih:,} = {iw * ih:,} pixel image, above the "
                              f"limit of {limits.max_image_pixels:,} (TTHC_SCAN_MAX_IMAGE_PIXELS)")
            if max(w, h) > limits.max_page_points:
                raise BadFile("page_too_large",
                              f"{name} page {i + 1} is {w:,.0f} x {h:,.0f} pt ({w / 72 * 25.4:,.0f} x "
                              f"{h / 72 * 25.4:,.0f} mm), above the limit of {limits.max_page_points:,.0f} pt "
                              "(TTHC_SCAN_MAX_PAGE_POINTS)")
    finally:
        doc.close()


def _largest_image(page, pdfium_c) -> tuple[int, int] | None:
    """Pixel size of the page's largest embedded image, from its dictionary (nothing is decoded)."""
    best = None
    try:
        for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=2):
            w, h = obj.get_px_size()
            if best is None or w * h > best[0] * best[1]:
                best = (w, h)
    except Exception:  # noqa: BLE001 - an odd object tree: the text step names what is wrong
        return best
    return best


class CheckTypeStep(Step):
    name = "check_type"

    def run(self, ctx: FileContext) -> None:
        media_type = check_file(ctx.info["name"], ctx.data, ctx.zone.max_size_bytes)
        ctx.media_type = media_type
        with ctx.conn, ctx.conn.cursor() as cur:
            cur.execute("UPDATE ops.scan_file SET media_type = %s WHERE file_id = %s", (media_type, ctx.file_id))
        check_limits(ctx.info["name"], ctx.data, media_type, ctx.limits)
