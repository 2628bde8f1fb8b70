"""render(attributes, U) -> 128×128 RGB image: a pure, deterministic function of its arguments.

Fixed layout (pixels of the 128² image): sky y < 60; a tree on the left; a street lamp at x ≈ 76; a person on the
right; the road from y = 62 down with the car in its middle. Attributes change colours and the presence of a few
objects, never positions; the exogenous layout noise (jitter, shades, cloud shapes, stars, puddles) is not named
by any caption, so an inversion has something real to preserve.
Drawn at 4× and box-downsampled, so edges are anti-aliased the same way every time.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from .scm import Scm

SIZE = 128
SS = 4  # supersampling factor
HORIZON = 60
ROAD_TOP = 62

CAR_RGB = {"red": (200, 35, 35), "blue": (40, 75, 205), "yellow": (235, 200, 40), "white": (238, 238, 238)}
FOLIAGE_RGB = {"pink": (242, 150, 190), "green": (55, 140, 55), "orange": (228, 118, 30)}
COATS = [(70, 80, 95), (110, 70, 50), (60, 95, 70), (95, 60, 100)]
UMBRELLA_RGB = (150, 60, 175)


def sample_layout(rng: np.random.Generator) -> dict:
    """The exogenous scene noise: everything in the image that no attribute decides."""
    return {
        "car_dx": int(rng.integers(-5, 6)),
        "tree_dx": int(rng.integers(-3, 4)),
        "person_dx": int(rng.integers(-3, 4)),
        "sky_shade": float(rng.uniform(-0.08, 0.08)),
        "road_shade": float(rng.uniform(-0.08, 0.08)),
        "car_shade": float(rng.uniform(-0.1, 0.06)),
        "coat": int(rng.integers(0, len(COATS))),
        "clouds": [[float(rng.uniform(0, 128)), float(rng.uniform(8, 40)), float(rng.uniform(0.7, 1.3))] for _ in range(3)],
        "stars": [[float(rng.uniform(0, 128)), float(rng.uniform(2, 52))] for _ in range(14)],
        "moon": [float(rng.uniform(40, 66)), float(rng.uniform(10, 26))],
        "puddles": [[float(rng.uniform(4, 124)), float(rng.uniform(112, 124)), float(rng.uniform(8, 16))] for _ in range(3)],
    }


def sample_u(scm: Scm, rng: np.random.Generator) -> dict:
    return {"noise": {a.id: float(rng.uniform()) for a in scm.attributes}, "layout": sample_layout(rng)}


def _shade(rgb, f: float):
    return tuple(int(max(0, min(255, round(c * (1 + f))))) for c in rgb)


def regions(layout: dict) -> dict[str, list[int]]:
    """Each attribute region's rectangle [x0, y0, x1, y1) in 128² pixels; label maps paint them in this order."""
    cx = 64 + layout["car_dx"]
    tx = 21 + layout["tree_dx"]
    px = 106 + layout["person_dx"]
    return {
        "sky": [0, 0, 128, HORIZON],
        "road": [0, ROAD_TOP, 128, 128],
        "tree": [max(0, tx - 21), 6, tx + 22, 74],
        "lamp": [62, 4, 92, 74],
        "person": [px - 18, 16, min(128, px + 18), 76],
        "car": [cx - 29, 74, cx + 29, 114],
    }


def label_map(layout: dict) -> np.ndarray:
    """128×128 array of region indices (0 = none) in the order of regions(): later regions win."""
    out = np.zeros((SIZE, SIZE), np.uint8)
    for i, (x0, y0, x1, y1) in enumerate(regions(layout).values(), start=1):
        out[y0:y1, x0:x1] = i
    return out


def render(attributes: dict[str, str], u: dict) -> Image.Image:
    L = u["layout"]
    s = SS
    night = attributes["time_of_day"] == "night"
    W = SIZE * s

    def S(*v):
        return [x * s for x in v]

    img = Image.new("RGB", (W, W))
    d = ImageDraw.Draw(img)

    # Sky: a vertical gradient, then clouds / stars by value.
    sky = attributes["sky"]
    top, bottom = {
        "blue": ((70, 125, 215), (160, 200, 240)),
        "grey": ((128, 132, 140), (172, 175, 180)),
        "starry": ((10, 16, 52), (32, 42, 92)),
        "dark": ((22, 22, 26), (40, 40, 46)),
    }[sky]
    for y in range(HORIZON * s):
        t = y / (HORIZON * s)
        c = tuple(int(a + (b - a) * t) for a, b in zip(top, bottom))
        d.line([(0, y), (W, y)], fill=_shade(c, L["sky_shade"]))
    cloud_rgb = {"blue": (250, 250, 252), "grey": (108, 110, 116), "dark": (48, 48, 56)}.get(sky)
    if cloud_rgb:
        for cx, cy, sc in L["clouds"]:
            k = 1.4 if sky != "blue" else 1.0
            for ox, oy, r in ((-7, 2, 6), (0, 0, 8), (8, 2, 6), (3, 4, 6)):
                rr = r * sc * k
                d.ellipse(S(cx + ox * sc * k - rr, cy + oy * sc - rr * 0.7, cx + ox * sc * k + rr, cy + oy * sc + rr * 0.7), fill=cloud_rgb)
    if sky == "starry":
        for x, y in L["stars"]:
            d.ellipse(S(x - 0.9, y - 0.9, x + 0.9, y + 0.9), fill=(255, 255, 230))
        mx, my = L["moon"]
        d.ellipse(S(mx - 6, my - 6, mx + 6, my + 6), fill=(245, 240, 200))

    # Road (with a curb at its top edge).
    road = attributes["road"]
    base = {"dry": (112, 112, 116), "wet": (52, 58, 70), "snowy": (228, 232, 238)}[road]
    d.rectangle(S(0, HORIZON, 128, ROAD_TOP), fill=(180, 178, 170) if road != "snowy" else (236, 238, 242))
    d.rectangle(S(0, ROAD_TOP, 128, 128), fill=_shade(base, L["road_shade"]))
    if road == "snowy":
        for y in (98, 108):
            d.rectangle(S(0, y, 128, y + 3), fill=(190, 196, 206))
    else:
        for x in range(2, 128, 24):
            d.rectangle(S(x, 121, x + 12, 123), fill=(230, 225, 200) if road == "dry" else (150, 150, 140))
    if road == "wet":
        for x, y, w in L["puddles"]:
            d.ellipse(S(x - w, y - 2.5, x + w, y + 2.5), fill=(95, 110, 135))

    # Tree: trunk, then crown or bare branches.
    tx = 21 + L["tree_dx"]
    d.rectangle(S(tx - 3, 30, tx + 3, 72), fill=(92, 62, 36))
    fol = attributes["foliage"]
    if fol == "bare":
        for ex, ey in ((-16, 12), (-10, 6), (0, 8), (10, 6), (16, 14), (-6, 18), (8, 18)):
            d.line(S(tx, 40, tx + ex, ey + 4), fill=(92, 62, 36), width=2 * s)
    else:
        rgb = FOLIAGE_RGB[fol]
        for ox, oy, r in ((0, 26, 16), (-10, 32, 11), (10, 32, 11), (-7, 18, 10), (7, 18, 10)):
            d.ellipse(S(tx + ox - r, oy - r, tx + ox + r, oy + r), fill=rgb)
        if fol == "pink":
            for ox, oy in ((-8, 20), (5, 14), (9, 30), (-4, 34), (0, 24), (-12, 30), (12, 22)):
                d.ellipse(S(tx + ox - 1.3, oy - 1.3, tx + ox + 1.3, oy + 1.3), fill=(255, 240, 248))

    # Person, with an open umbrella or none.
    px = 106 + L["person_dx"]
    coat = COATS[L["coat"]]
    d.rectangle(S(px - 4, 58, px - 1, 74), fill=(40, 40, 48))
    d.rectangle(S(px + 1, 58, px + 4, 74), fill=(40, 40, 48))
    d.rectangle(S(px - 5, 42, px + 5, 60), fill=coat)
    d.ellipse(S(px - 4, 33, px + 4, 41), fill=(225, 185, 150))
    if attributes["umbrella"] == "open":
        d.line(S(px + 5, 48, px + 5, 24), fill=(30, 30, 30), width=s)
        d.pieslice(S(px - 12, 12, px + 22, 40), 180, 360, fill=UMBRELLA_RGB)

    # Car.
    cx = 64 + L["car_dx"]
    body = _shade(CAR_RGB[attributes["car_color"]], L["car_shade"])
    d.polygon([tuple(S(cx - 15, 90)), tuple(S(cx - 10, 77)), tuple(S(cx + 12, 77)), tuple(S(cx + 17, 90))], fill=body)
    d.polygon([tuple(S(cx - 12, 89)), tuple(S(cx - 8, 80)), tuple(S(cx + 10, 80)), tuple(S(cx + 14, 89))], fill=(165, 195, 215))
    d.rounded_rectangle(S(cx - 27, 88, cx + 27, 105), radius=3 * s, fill=body)
    for wx in (-15, 15):
        d.ellipse(S(cx + wx - 6, 99, cx + wx + 6, 111), fill=(25, 25, 25))
        d.ellipse(S(cx + wx - 2.5, 102.5, cx + wx + 2.5, 107.5), fill=(140, 140, 140))

    img = img.resize((SIZE, SIZE), Image.BOX)
    arr = np.asarray(img).astype(np.float32)

    # Night darkens everything below the sky; a lit lamp then adds its glow.
    if night:
        arr[HORIZON:] *= 0.55
    lamp_on = attributes["lamp"] == "on"
    small = Image.fromarray(arr.clip(0, 255).astype(np.uint8))
    d = ImageDraw.Draw(small)
    d.rectangle((75, 18, 77, 72), fill=(45, 45, 50))
    d.rectangle((70, 14, 82, 19), fill=(45, 45, 50))
    arr = np.asarray(small).astype(np.float32)
    if lamp_on:
        yy, xx = np.mgrid[0:SIZE, 0:SIZE]
        glow = np.exp(-(((xx - 76) ** 2) + ((yy - 21) ** 2)) / (2 * 7.0**2))
        cone = ((yy > 21) & (yy < 76) & (np.abs(xx - 76) < 3 + (yy - 21) * 0.28)).astype(np.float32) * 0.28
        light = np.maximum(glow, cone)
        arr += light[..., None] * np.array([255, 215, 110], np.float32) * 0.9
        arr[19:23, 71:82] = (255, 236, 140)
    else:
        arr[19:22, 71:82] = (120, 120, 118)
    return Image.fromarray(arr.clip(0, 255).round().astype(np.uint8))


def render_counterfactual(scm: Scm, u: dict, do: dict[str, str]) -> tuple[dict[str, str], Image.Image]:
    """The true counterfactual: the intervened SCM solved with the same U, rendered with the same layout noise."""
    attrs = scm.counterfactual(u["noise"], do)
    return attrs, render(attrs, u)



