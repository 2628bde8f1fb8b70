"""A loss-curve PNG drawn with PIL (no plotting library in the export venv): log-scale y, one line per series."""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw

COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189)]


def loss_curve(series: dict[str, list[tuple[int, float]]], out: Path, title: str) -> None:
    W, H, m = 900, 420, 60
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    pts = [(s, v) for vs in series.values() for s, v in vs if v > 0]
    if not pts:
        return
    x1 = max(s for s, _ in pts) or 1
    lo, hi = math.log10(min(v for _, v in pts)), math.log10(max(v for _, v in pts))
    hi = hi if hi > lo else lo + 1

    def xy(s, v):
        return m + (W - 2 * m) * s / x1, H - m - (H - 2 * m) * (math.log10(v) - lo) / (hi - lo)

    d.rectangle([m, m, W - m, H - m], outline=(0, 0, 0))
    for k in range(math.floor(lo), math.ceil(hi) + 1):
        for f in (1, 2, 5):
            v = f * 10**k
            if lo <= math.log10(v) <= hi:
                _, y = xy(0, v)
                d.line([m, y, W - m, y], fill=(225, 225, 225))
                d.text((6, y - 6), f"{v:g}", fill=(0, 0, 0))
    d.text((m, 20), title, fill=(0, 0, 0))
    d.text((W - m - 40, H - m + 10), f"{x1} steps", fill=(0, 0, 0))
    for i, (name, vs) in enumerate(series.items()):
        c = COLOURS[i % len(COLOURS)]
        line = [xy(s, v) for s, v in vs if v > 0]
        if len(line) > 1:
            d.line(line, fill=c, width=2)
        d.text((W - m - 220, m + 8 + 14 * i), name, fill=c)
    img.save(out)
