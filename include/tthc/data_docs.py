"""What makes the GX Data Docs site safe to keep and to open anywhere.

- Masked: the failing values GX copies into a result are masked before the site is built
  (personal IDs keep their last 3 digits, birth dates and names keep no digits or letters but the
  first); any ID-like number in other columns (e.g. clean_problems text) is masked too.
- Private: the site's folder is 0700 and its files 0600: it is a working document of the
  people who run the pipeline, not a published one.
- Offline: GX pages load Bootstrap, jQuery, Font Awesome, Vega … from CDNs and render blank
  without internet. The same files ship in tthc/data_docs_assets/vendor (see its NOTICE) and are
  copied into the site; every page's CDN links are rewritten to them.
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
from pathlib import Path

from tthc.masking import mask_birth_date, mask_id, mask_ids_in_text, mask_name

ASSETS_DIR = Path(__file__).resolve().parent / "data_docs_assets" / "vendor"
SITE_VENDOR = Path("static") / "vendor"

# The CDN addresses GX's templates use → the vendored file that replaces each.
CDN_ASSETS = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap/bootstrap.min.js",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper/popper.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        "bootstrap-table/bootstrap-table-filter-control.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        "bootstrap-table/bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        "bootstrap-table/bootstrap-table-filter-control.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        "bootstrap-datepicker/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "bootstrap-datepicker/bootstrap-datepicker.min.js",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        "bootstrap-dark/bootstrap-prefers-dark.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "fontawesome/css/all.min.css",
    "https://cdn.jsdelivr.net/npm/vega@5": "vega/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega/vega-embed.min.js",
}
# GX's logo comes from its web-assets bucket; the same images ship in the site's static/images.
GX_IMAGES = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"
_GX_IMAGE = re.compile(re.escape(GX_IMAGES) + r"([A-Za-z0-9_.-]+)(\?[^\"')\s]*)?")
_URL_ATTR = re.compile(r"""(\b(?:src|href)=["'])(https?://[^"']+)(["'])""")
# Subresource-integrity and CORS attributes are for the CDN copies; a local file is loaded as is.
_SRI = re.compile(r"""\s(?:integrity|crossorigin)=["'][^"']*["']""")

# Staging columns whose values are personal, and how each is masked in the site.
PERSONAL_COLUMNS = {
    "holder_id_value": mask_id,
    "holder_birth_date": mask_birth_date,
    "holder_name": mask_name,
    "holder_name_key": mask_name,
    "holder_key": lambda v: "*" * 8 if v else v,
}
_RESULT_VALUE_KEYS = ("unexpected_list", "partial_unexpected_list", "partial_unexpected_counts",
                      "unexpected_index_list", "partial_unexpected_index_list")


def mask_value(value, column: str | None):
    """One value GX copied from the batch, masked for the column it came from."""
    if isinstance(value, dict):
        return {k: mask_value(v, k if k in PERSONAL_COLUMNS else column) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(mask_value(v, column) for v in value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = value if isinstance(value, str) else str(value)
    if column in PERSONAL_COLUMNS:
        return PERSONAL_COLUMNS[column](text)
    return mask_ids_in_text(text)


def mask_result(result: dict, kwargs: dict) -> dict:
    """A GX expectation result's value lists, masked (ids, counts and statistics unchanged)."""
    if "column" in kwargs:
        columns = [kwargs["column"]]
    elif "column_A" in kwargs:
        columns = [kwargs["column_A"], kwargs.get("column_B")]
    else:
        columns = list(kwargs.get("column_list") or [])

    def one(value):
        if len(columns) == 1:
            return mask_value(value, columns[0])
        if isinstance(value, (list, tuple)) and len(value) == len(columns):
            return type(value)(mask_value(v, c) for v, c in zip(value, columns))
        if isinstance(value, dict):
            return mask_value(value, None)
        if any(c in PERSONAL_COLUMNS for c in columns):
            return mask_birth_date(mask_value(value, None))  # several columns in one text: no digit shown
        return mask_value(value, None)

    out = dict(result)
    for key in _RESULT_VALUE_KEYS:
        values = out.get(key)
        if not isinstance(values, list):
            continue
        if key == "partial_unexpected_counts":
            out[key] = [{**c, "value": one(c.get("value"))} if isinstance(c, dict) else c for c in values]
        elif key in ("unexpected_index_list", "partial_unexpected_index_list"):
            out[key] = [mask_value(v, None) for v in values]  # dicts: each value masked by its column
        else:
            out[key] = [one(v) for v in values]
    return out


def make_offline(site: Path) -> int:
    """Copy the vendored assets into the site and point every page at them. Returns pages rewritten."""
    site = Path(site)
    target = site / SITE_VENDOR
    for src in ASSETS_DIR.rglob("*"):
        if src.is_file():
            dst = target / src.relative_to(ASSETS_DIR)
            if not dst.exists() or not filecmp.cmp(src, dst, shallow=False):
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
    rewritten = 0
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        new = _rewrite(text, page.parent, site)
        if new != text:
            page.write_text(new, encoding="utf-8")
            rewritten += 1
    return rewritten


def _rewrite(text: str, folder: Path, site: Path) -> str:
    def local(path: Path) -> str:
        return Path(os.path.relpath(path, folder)).as_posix()

    def attr(m: re.Match) -> str:
        url = m.group(2)
        if url in CDN_ASSETS:
            return m.group(1) + local(site / SITE_VENDOR / CDN_ASSETS[url]) + m.group(3)
        return m.group(0)

    text = _URL_ATTR.sub(attr, text)
    images = site / "static" / "images"
    text = _GX_IMAGE.sub(lambda m: local(images / ("logo-long.png" if m.group(1) == "full_logo_dark.png"
                                                   else m.group(1))), text)
    return _SRI.sub("", text)


def make_private(site: Path) -> None:
    """The site readable by its owner only: folders 0700, files 0600."""
    site = Path(site)
    if not site.exists():
        return
    os.chmod(site, 0o700)
    for root, dirs, files in os.walk(site):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o700)
        for f in files:
            os.chmod(os.path.join(root, f), 0o600)
