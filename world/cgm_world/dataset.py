"""`cgm world dataset --n N --seed S --out DIR`: scenes with captions, attributes, U, regions, and for each scene
three interventions as the paper's manipulator prompt asks (one root with many descendants, one with few, one
with none), each with its true counterfactual image (same U) and propagated attributes.

DIR/world-dataset.json                 format, seed, n, scene ids
DIR/images/<id>.png                    the factual scene
DIR/scenes/<id>.json                   caption, attributes, u, regions, interventions
DIR/counterfactuals/<id>-<iid>.png     the true counterfactual of each intervention
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .captions import caption
from .render import regions, render, render_counterfactual, sample_u
from .scm import Scm, WorldInputError

FORMAT = "cgm-world-dataset/1"
TAG = 0x776F726C64  # "world": keeps data set scenes apart from the integer seeds used in training


def dataset_scene(scm: Scm, seed: int, index: int) -> tuple[dict, dict[str, str], np.random.Generator]:
    rng = np.random.default_rng([seed, index, TAG])
    u = sample_u(scm, rng)
    return u, scm.solve(u["noise"]), rng


def intervention_kinds(scm: Scm) -> list[tuple[str, str]]:
    """The roots ranked by descendant count: most → 'many-descendants', fewest non-zero → 'few-descendants',
    a root (or else a leaf) with none → 'no-descendants'."""
    roots = [a.id for a in scm.attributes if not a.parents]
    ranked = sorted(roots, key=lambda r: -len(scm.descendants(r)))
    many = ranked[0]
    few = next(r for r in reversed(ranked) if scm.descendants(r) and r != many)
    none = next((r for r in ranked if not scm.descendants(r)), None)
    if none is None:
        none = next(a.id for a in scm.attributes if not scm.descendants(a.id))
    return [("many-descendants", many), ("few-descendants", few), ("no-descendants", none)]


def make_dataset(scm: Scm, n: int, seed: int, out: Path, log=print) -> dict:
    if n < 1:
        raise WorldInputError(f"--n: {n} is not a positive number of scenes")
    for sub in ("images", "scenes", "counterfactuals"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    ids = []
    kinds = intervention_kinds(scm)
    for i in range(n):
        sid = f"{i:06d}"
        u, attrs, rng = dataset_scene(scm, seed, i)
        render(attrs, u).save(out / "images" / f"{sid}.png")
        interventions = []
        for k, (kind, target) in enumerate(kinds, start=1):
            others = [v for v in scm.by_id[target].values if v != attrs[target]]
            value = others[int(rng.integers(len(others)))]
            cf_attrs, cf_img = render_counterfactual(scm, u, {target: value})
            iid = f"i{k}"
            cf_img.save(out / "counterfactuals" / f"{sid}-{iid}.png")
            interventions.append({
                "id": iid,
                "kind": kind,
                "do": {target: value},
                "attributes": cf_attrs,
                "changed": [a for a in scm.order if cf_attrs[a] != attrs[a]],
                "caption": caption(scm, cf_attrs, 0),
                "image": f"counterfactuals/{sid}-{iid}.png",
            })
        scene = {
            "id": sid,
            "index": i,
            "caption": caption(scm, attrs, int(rng.integers(3))),
            "attributes": attrs,
            "u": u,
            "regions": regions(u["layout"]),
            "image": f"images/{sid}.png",
            "interventions": interventions,
        }
        (out / "scenes" / f"{sid}.json").write_text(json.dumps(scene, indent=1) + "\n")
        ids.append(sid)
        if (i + 1) % 50 == 0:
            log(f"{i + 1}/{n} scenes")
    manifest = {"format": FORMAT, "scm": scm.spec["name"], "seed": seed, "n": n, "scenes": ids}
    (out / "world-dataset.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest
