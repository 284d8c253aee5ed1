"""Charts as server-side SVG: bars, a histogram and a timeline. No JavaScript, no library.

Every text that reaches the SVG is escaped; each chart has a `<title>` and `role="img"` with an
`aria-label`, and the pages print the same numbers in a table beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

BAND_COLOURS = {"at_risk": "#8b1a1a", "red": "#d64545", "yellow": "#c99a06", "green": "#2f8f46",
                "thriving": "#1f6fb2", "no health yet": "#888888"}


def _num(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def bars(counts: dict[str, float], title: str, width: int = 420, height: int = 180) -> str:
    """Vertical bars, one per key, coloured by band name when the key is one."""
    n = max(len(counts), 1)
    top = max([*counts.values(), 1])
    bw = (width - 20) / n
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>']
    for k, (label, v) in enumerate(counts.items()):
        h = (height - 40) * v / top
        x = 10 + k * bw
        colour = BAND_COLOURS.get(label, "#4a6fa5")
        parts.append(f'<rect x="{x + 4:.1f}" y="{height - 20 - h:.1f}" width="{bw - 8:.1f}" '
                     f'height="{h:.1f}" fill="{colour}"><title>{escape(label)}: {_num(v)}</title></rect>'
                     f'<text x="{x + bw / 2:.1f}" y="{height - 24 - h:.1f}" text-anchor="middle">'
                     f'{escape(_num(v))}</text>'
                     f'<text x="{x + bw / 2:.1f}" y="{height - 6}" text-anchor="middle">'
                     f'{escape(label[:14])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def histogram(bins: Sequence[dict[str, float | None]], title: str) -> str:
    counts: dict[str, float] = {}
    for b in bins:
        lo, hi = b["from"], b["to"]
        label = f"<{_num(hi)}" if lo is None and hi is not None else (
            f"≥{_num(lo)}" if hi is None and lo is not None else f"{_num(lo or 0)}")
        counts[label] = float(b["count"] or 0)
    return bars(counts, title, width=max(420, 40 * len(counts)))


def timeline(points: Sequence[tuple[str, float | None, float | None]], title: str,
             width: int = 720, height: int = 220) -> str:
    """Engagement (solid) and health (dashed) per day; `points` are (day, engagement, health)."""
    vals = [v for _, e, h in points for v in (e, h) if v is not None]
    parts = [f'<svg class="chart timeline" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>']
    if not vals:
        parts.append(f'<text x="10" y="{height / 2}">no history yet</text></svg>')
        return "".join(parts)
    lo, hi = min([*vals, 0.0]), max([*vals, 100.0])
    n = max(len(points) - 1, 1)

    def xy(k: int, v: float) -> str:
        x = 40 + (width - 60) * k / n
        y = 10 + (height - 40) * (hi - v) / ((hi - lo) or 1)
        return f"{x:.1f},{y:.1f}"

    for ref in (0.0, 40.0, 70.0, 100.0):
        if lo <= ref <= hi:
            y = xy(0, ref).split(",")[1]
            parts.append(f'<line x1="40" x2="{width - 20}" y1="{y}" y2="{y}" class="grid"/>'
                         f'<text x="4" y="{y}" class="axis">{_num(ref)}</text>')
    for idx, (cls, colour) in enumerate((("engagement", "#1f6fb2"), ("health", "#2f8f46"))):
        pts = [xy(k, p[1 + idx]) for k, p in enumerate(points) if p[1 + idx] is not None]  # type: ignore[arg-type]
        if pts:
            dash = ' stroke-dasharray="6 4"' if idx else ""
            parts.append(f'<polyline class="series {cls}" fill="none" stroke="{colour}" stroke-width="2"'
                         f'{dash} points="{" ".join(pts)}"/>')
    parts.append(f'<text x="40" y="{height - 4}" class="axis">{escape(points[0][0])}</text>'
                 f'<text x="{width - 20}" y="{height - 4}" text-anchor="end" class="axis">'
                 f'{escape(points[-1][0])}</text></svg>')
    return "".join(parts)
