"""python -m cgm_world (called by `cgm world …`): train | render | dataset | check."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _do(items: list[str]) -> dict[str, str]:
    from .scm import WorldInputError

    out = {}
    for it in items:
        if "=" not in it:
            raise WorldInputError(f"--do {it!r}: expected ATTRIBUTE=VALUE, e.g. season=winter")
        k, v = it.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _scene_file(scm, path: Path):
    """U and attributes of a data set scene file; the attributes must be what the SCM gives for its noise."""
    from .scm import WorldInputError

    try:
        data = json.loads(path.read_text())
        u = data["u"]
        noise, layout = u["noise"], u["layout"]
    except FileNotFoundError:
        raise WorldInputError(f"{path}: no such scene file") from None
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise WorldInputError(f"{path}: not a scene of `cgm world dataset` (u.noise / u.layout: {e})") from None
    attrs = scm.solve(noise)
    if data.get("attributes") not in (None, attrs):
        raise WorldInputError(f"{path}: attributes are not what the SCM gives for u.noise")
    return {"noise": noise, "layout": layout}, attrs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cgm world")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train the world model and the oracle from scratch (resumable)")
    t.add_argument("--out", type=Path, default=ROOT / "world" / "model")
    t.add_argument("--work", type=Path, default=ROOT / ".cache" / "world" / "train")
    t.add_argument("--stop-after", choices=["vae", "oracle"])
    r = sub.add_parser("render", help="render one scene (and its counterfactual under --do)")
    r.add_argument("--seed", type=int, help="scene seed (or --scene)")
    r.add_argument("--scene", type=Path, help="a scene JSON of `cgm world dataset`: its own noise U")
    r.add_argument("--do", action="append", default=[], metavar="ATTRIBUTE=VALUE")
    r.add_argument("--out", type=Path, default=Path("scene.png"))
    d = sub.add_parser("dataset", help="a seeded data set with true counterfactuals")
    d.add_argument("--n", type=int, required=True)
    d.add_argument("--seed", type=int, required=True)
    d.add_argument("--out", type=Path, required=True)
    c = sub.add_parser("check", help="the world model's quality figures (bench)")
    c.add_argument("--model", type=Path, default=ROOT / "world" / "model")
    c.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "world-check")
    c.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    c.add_argument("--only", help="comma-separated sections (oracle,fidelity,roundtrip,localisation); merged into --out")
    a = p.parse_args(argv)

    from .scm import Scm, WorldInputError

    try:
        scm = Scm.load()
        if a.cmd == "train":
            from .train import run

            run(a.out, a.work, a.stop_after)
        elif a.cmd == "render":
            from .captions import caption
            from .data import scene
            from .render import render

            if (a.seed is None) == (a.scene is None):
                raise WorldInputError("give exactly one of --seed S or --scene FILE")
            if a.scene is not None:
                u, attrs = _scene_file(scm, a.scene)
            else:
                u, attrs = scene(scm, a.seed)
            render(attrs, u).save(a.out)
            info = {"seed": a.seed, "attributes": attrs, "caption": caption(scm, attrs), "image": str(a.out)}
            if a.do:
                from .render import render_counterfactual

                cf, img = render_counterfactual(scm, u, _do(a.do))
                cf_path = a.out.with_name(a.out.stem + "-counterfactual" + a.out.suffix)
                img.save(cf_path)
                info["counterfactual"] = {"do": _do(a.do), "attributes": cf, "caption": caption(scm, cf), "image": str(cf_path)}
            print(json.dumps(info, indent=1))
        elif a.cmd == "dataset":
            from .dataset import make_dataset

            m = make_dataset(scm, a.n, a.seed, a.out, log=lambda s: print(s, file=sys.stderr))
            print(json.dumps({"out": str(a.out), "scenes": m["n"], "seed": m["seed"]}))
        elif a.cmd == "check":
            from .check import run_check

            from .check import SECTIONS

            only = [x.strip() for x in a.only.split(",")] if a.only else None
            for x in only or []:
                if x not in SECTIONS:
                    raise WorldInputError(f"--only: unknown section {x!r}; expected some of {', '.join(SECTIONS)}")
            run_check(scm, a.model, a.out, quick=a.quick, only=only)
    except WorldInputError as e:
        print(f"cgm world {a.cmd}: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
