"""Writes world/testdata: SCM cases solved by Python (for the TypeScript SCM to agree with) and the render
fingerprints of a few seeds (render determinism; a change here invalidates the trained model)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from .data import scene
from .render import render
from .scm import Scm

OUT = Path(__file__).resolve().parents[1] / "testdata"
RENDER_SEEDS = [0, 1, 2, 3, 42, 1_000_000, 9_000_000]


def render_fingerprint(scm: Scm, seed: int) -> str:
    u, attrs = scene(scm, seed)
    return hashlib.sha256(np.asarray(render(attrs, u)).tobytes()).hexdigest()


def scm_cases(scm: Scm, n: int = 60) -> list[dict]:
    rng = np.random.default_rng(7)
    cases = []
    for i in range(n):
        noise = {a.id: float(rng.uniform()) for a in scm.attributes}
        do = {}
        if i % 3:
            a = scm.attributes[int(rng.integers(len(scm.attributes)))]
            do = {a.id: a.values[int(rng.integers(len(a.values)))]}
        cases.append({"noise": noise, "do": do, "attributes": scm.solve(noise, do)})
    return cases


def oracle_reference(scm: Scm, model_dir: Path, seeds: list[int]) -> dict:
    """Renders of a few held-out seeds as PNGs and the torch oracle's logits on them: the ONNX graph, run
    from TypeScript, must give the same logits."""
    import torch
    from PIL import Image

    from .oracle import Oracle

    oracle = Oracle([len(a.values) for a in scm.attributes])
    oracle.load_state_dict(torch.load(model_dir)["model"])
    out = {"seeds": seeds, "images": [], "logits": [], "attributes": []}
    (OUT / "oracle").mkdir(exist_ok=True)
    for s in seeds:
        u, attrs = scene(scm, s)
        img = render(attrs, u)
        img.save(OUT / "oracle" / f"{s}.png")
        x = torch.from_numpy(np.asarray(img).astype(np.float32) / 255.0).permute(2, 0, 1)[None]
        with torch.no_grad():
            out["logits"].append([float(v) for v in oracle.eval()(x)[0]])
        out["images"].append(f"oracle/{s}.png")
        out["attributes"].append(attrs)
    return out


if __name__ == "__main__":
    scm = Scm.load()
    OUT.mkdir(exist_ok=True)
    (OUT / "scm-cases.json").write_text(json.dumps(scm_cases(scm), indent=1) + "\n")
    (OUT / "render-fingerprints.json").write_text(
        json.dumps({str(s): render_fingerprint(scm, s) for s in RENDER_SEEDS}, indent=1) + "\n"
    )
    ckpt = OUT.parents[1] / ".cache" / "world" / "train" / "oracle.pt"
    if ckpt.exists():
        ref = oracle_reference(scm, ckpt, [9_000_000 + k for k in range(6)])
        (OUT / "oracle-reference.json").write_text(json.dumps(ref, indent=1) + "\n")
