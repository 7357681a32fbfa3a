"""Charts for officials' reports and the application's statistics pages, drawn with matplotlib
(Agg backend, no display, no network) and returned as SVG text to inline in HTML.

Stable API (the web application calls these):

    step_chart_svg(targets, actual, *, title=None, width=7.6, height=3.6) -> str
        targets: {level: {year: target_pct}}      e.g. {"district": {2022: 40, 2023: 60}}
        actual:  {level: [(period_end, pct), ...]} the measured share per snapshot
        level is one of LEVELS ("province", "district", "commune"); other keys are ignored.
        Returns an <svg> element (no XML prolog), text kept as text (selectable, prints sharply).

    worst_units_svg(units, *, width=7.6) -> str
        units: [(label, pct, expected_pct), ...] already sorted and cut to the wanted length.

    vn_number(value, decimals=1) -> str   Vietnamese number format: "1.234,5".

Each level has its own colour, line style and marker, so overlapping target steps (district
and commune often share the same steps) stay distinguishable: the district steps are drawn
thick and pale under the thin commune steps.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Mapping, Sequence

LEVELS = ("province", "district", "commune")
LEVEL_LABEL = {"province": "Cấp tỉnh", "district": "Cấp huyện", "commune": "Cấp xã"}
LEVEL_COLOUR = {"province": "#1f5fa8", "district": "#d35400", "commune": "#1b7f3b"}
# (target style, target width, target alpha, actual marker)
LEVEL_STYLE = {"province": ("--", 2.0, 0.9, "o"), "district": ("-", 6.0, 0.30, "s"), "commune": (":", 2.2, 1.0, "^")}


def vn_number(value: float | int | None, decimals: int = 1) -> str:
    """1234.5 -> '1.234,5' (Vietnamese: dot for thousands, comma for decimals); None -> '—'."""
    if value is None:
        return "—"
    text = f"{float(value):,.{decimals}f}" if decimals else f"{round(float(value)):,}"
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def _pct_label(v: float) -> str:
    return f"{vn_number(v, 0 if float(v).is_integer() else 1)}%"


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    return fig


def _to_svg(fig) -> str:
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "tthc"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    text = buf.getvalue()
    # no XML prolog/doctype (inlined in HTML) and no RDF metadata block (only namespace URIs, no fetches)
    return re.sub(r"\s*<metadata>.*?</metadata>", "", text[text.index("<svg"):], flags=re.S)


def _date_num(d: dt.date) -> float:
    """A date as a fractional year (2024-07-01 -> ~2024.5): one linear axis for steps and points."""
    start = dt.date(d.year, 1, 1)
    days = (dt.date(d.year + 1, 1, 1) - start).days
    return d.year + (d - start).days / days


def step_chart_svg(targets: Mapping[str, Mapping[int, float]], actual: Mapping[str, Sequence[tuple[dt.date, float]]],
                   *, title: str | None = None, width: float = 7.6, height: float = 3.6) -> str:
    """The plan's year-end targets as steps (a target holds over the year it is due in) and the
    measured progress as a line with a point per snapshot, one colour per level. See the module doc."""
    levels = [lvl for lvl in LEVELS if targets.get(lvl) or actual.get(lvl)]
    fig = _figure(width, height)
    ax = fig.add_subplot(1, 1, 1)
    years = sorted({int(y) for lvl in levels for y in (targets.get(lvl) or {})})
    points = [d for lvl in levels for d, _ in (actual.get(lvl) or ())]
    span = years + [d.year for d in points]
    first = min(span) if span else dt.date.today().year
    last = max(span) if span else first
    ends: list[tuple[float, float, str]] = []  # (last value, x, colour) of each actual line
    for lvl in levels:
        colour = LEVEL_COLOUR[lvl]
        style, lw, alpha, marker = LEVEL_STYLE[lvl]
        steps = sorted((int(y), float(t)) for y, t in (targets.get(lvl) or {}).items())
        if steps:
            xs, ys = [], []
            for y, t in steps:
                xs += [y, y + 1]
                ys += [t, t]
            if last + 1 > xs[-1]:  # the last target holds after the plan period
                xs.append(last + 1)
                ys.append(steps[-1][1])
            ax.plot(xs, ys, linestyle=style, linewidth=lw, color=colour, alpha=alpha,
                    solid_capstyle="butt", label=f"{LEVEL_LABEL[lvl]} – chỉ tiêu", gid=f"target-{lvl}")
            for y, t in steps:
                sharing = [other for other in levels if (targets.get(other) or {}).get(y) == t]
                if sharing[-1] == lvl:  # one label per distinct step, grey when levels share it
                    ax.annotate(_pct_label(t), (y + 0.5, t), textcoords="offset points", xytext=(0, 4),
                                ha="center", fontsize=8, color=colour if len(sharing) == 1 else "#444444")
        series = sorted(actual.get(lvl) or ())
        if series:
            ax.plot([_date_num(d) for d, _ in series], [float(v) for _, v in series], linestyle="-", linewidth=2.2,
                    marker=marker, markersize=5, color=colour, label=f"{LEVEL_LABEL[lvl]} – thực hiện",
                    gid=f"actual-{lvl}")
            ends.append((float(series[-1][1]), _date_num(series[-1][0]), colour))
    placed = -100.0
    for v, x, colour in sorted(ends):  # the lines' end values, pushed apart so close ones stay legible
        placed = max(v, placed + 6)
        ax.text(x + 0.04, placed, _pct_label(round(v, 1)), fontsize=8, color=colour, fontweight="bold",
                va="center")
    ax.set_xlim(first, last + 1)
    ax.set_ylim(0, 108)
    ax.set_xticks([y + 0.5 for y in range(first, last + 1)], [str(y) for y in range(first, last + 1)])
    ax.set_xticks(list(range(first, last + 2)), minor=True)
    ax.tick_params(axis="x", which="major", length=0)
    ax.grid(True, which="minor", axis="x", color="#dddddd")
    ax.set_yticks([0, 20, 40, 60, 80, 100], [f"{v}%" for v in (0, 20, 40, 60, 80, 100)])
    ax.grid(True, axis="y", color="#e6e6e6")
    ax.set_ylabel("Tỷ lệ đã số hóa")
    if title:
        ax.set_title(title, fontsize=11)
    if not levels:
        ax.text(0.5, 0.5, "Chưa có số liệu", ha="center", va="center", transform=ax.transAxes, color="#777")
    else:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _to_svg(fig)


def worst_units_svg(units: Sequence[tuple[str, float, float]], *, width: float = 7.6) -> str:
    """Horizontal bars of the share digitized, with a black tick at the share expected by now."""
    fig = _figure(width, 0.8 + 0.32 * max(1, len(units)))
    ax = fig.add_subplot(1, 1, 1)
    labels = [u[0] for u in units][::-1]
    pcts = [float(u[1]) for u in units][::-1]
    expected = [float(u[2]) for u in units][::-1]
    ys = list(range(len(units)))
    ax.barh(ys, [100] * len(ys), color="#eeeeee", height=0.7)
    ax.barh(ys, pcts, color="#c0392b", height=0.7, label="Tỷ lệ đã số hóa")
    ax.scatter(expected, ys, marker="|", s=260, color="#222222", linewidths=2.2, label="Mức cần đạt theo tiến độ",
               zorder=3)
    for y, p in zip(ys, pcts):
        ax.text(101.5, y, _pct_label(round(p, 1)), va="center", fontsize=8)
    ax.set_yticks(ys, labels, fontsize=8)
    ax.set_xlim(0, 112)
    ax.set_xticks([0, 25, 50, 75, 100], ["0%", "25%", "50%", "75%", "100%"], fontsize=8)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=8, frameon=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _to_svg(fig)
