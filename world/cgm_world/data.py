"""Seeded sets of rendered scenes, cached as one .npz per (seed, n): images, attribute indices, U as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .render import render, sample_u
from .scm import Scm


def scene(scm: Scm, seed: int) -> tuple[dict, dict[str, str]]:
    """The scene of one seed: its exogenous noise U and the attributes the SCM gives it."""
    u = sample_u(scm, np.random.default_rng(seed))
    return u, scm.solve(u["noise"])


def attribute_indices(scm: Scm, attrs: dict[str, str]) -> list[int]:
    return [a.values.index(attrs[a.id]) for a in scm.attributes]


def render_set(scm: Scm, first_seed: int, n: int, cache: Path | None = None, log=print) -> dict:
    path = cache / f"scenes-{first_seed}-{n}.npz" if cache else None
    if path and path.exists():
        z = np.load(path)
        return {"images": z["images"], "labels": z["labels"], "u": json.loads(str(z["u"]))}
    images = np.zeros((n, 128, 128, 3), np.uint8)
    labels = np.zeros((n, len(scm.attributes)), np.int64)
    us = []
    for i in range(n):
        u, attrs = scene(scm, first_seed + i)
        images[i] = np.asarray(render(attrs, u))
        labels[i] = attribute_indices(scm, attrs)
        us.append(u)
        if (i + 1) % 2000 == 0:
            log(f"rendered {i + 1}/{n}")
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, images=images, labels=labels, u=json.dumps(us))
    return {"images": images, "labels": labels, "u": us}
