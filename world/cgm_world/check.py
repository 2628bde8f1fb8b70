"""`cgm world check`: the quality figures of the trained world model and its oracle (bench, not a test).

1. Oracle accuracy per attribute on held-out renders (the exported ONNX graph, through onnxruntime), and on
   their VAE reconstructions; max |logit difference| between the ONNX graph and the torch model.
2. Prompt fidelity: text-to-image from held-out full captions (50 steps, the bundle's DPM-Solver++ SDE
   scheduler, several CFG scales), read by the oracle; accuracy per attribute and on average.
3. Inversion round trip: diffusers' LEDITS++ edit-friendly inversion (source prompt = caption, guidance 3.5,
   skip 0.15) then generation with no edit; PSNR against the render and against its VAE reconstruction.
4. Cross-attention localisation: for each attribute with a region, a LEDITS++ edit towards another value of
   that attribute (one concept, scale 8, threshold 0.7, intersect mask); the share of its M1 mask (over the
   masked steps) inside the attribute's region, next to the region's share of the image (what chance gives).
5. A contact sheet: renders | generations from the same captions.
Writes results.json and report.md to --out, the contact sheet to docs/world/contact-sheet.png.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from .captions import caption
from .config import TRAIN
from .data import render_set, scene
from .oracle import Oracle
from .render import regions, render
from .scm import Scm

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "gpu-worker" / "export"))

FIDELITY_SEED = 9_100_000
ROUNDTRIP_SEED = 9_200_000
LOCAL_SEED = 9_300_000
GEN_SEED = 4242


def _log(msg: str) -> None:
    print(f"[world-check] {msg}", file=sys.stderr, flush=True)


def _to_batch(images: np.ndarray) -> np.ndarray:
    return (images.astype(np.float32) / 255.0).transpose(0, 3, 1, 2)


class OnnxOracle:
    def __init__(self, model_dir: Path, scm: Scm):
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(model_dir / "oracle.onnx"), providers=["CPUExecutionProvider"])
        self.counts = [len(a.values) for a in scm.attributes]

    def logits(self, images: np.ndarray) -> np.ndarray:
        out = [self.session.run(["logits"], {"image": _to_batch(images[i : i + 256])})[0] for i in range(0, len(images), 256)]
        return np.concatenate(out)

    def read(self, images: np.ndarray) -> np.ndarray:
        lg = self.logits(images)
        cols, k = [], 0
        for c in self.counts:
            cols.append(lg[:, k : k + c].argmax(1))
            k += c
        return np.stack(cols, 1)


def _per_attribute(scm: Scm, pred: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    return {a.id: float((pred[:, j] == labels[:, j]).mean()) for j, a in enumerate(scm.attributes)}


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def _pil_batch(images) -> np.ndarray:
    return np.stack([np.asarray(im.convert("RGB")) for im in images])


SECTIONS = ("oracle", "fidelity", "roundtrip", "localisation")


def run_check(scm: Scm, model_dir: Path, out: Path, quick: bool = False, only: list[str] | None = None) -> dict:
    """Runs the sections (all, or `only`), merging into an existing results.json, which is rewritten after
    every section so a long run keeps what it measured."""
    from diffusers import StableDiffusionXLPipeline
    from diffusers.utils import logging as dlog

    dlog.disable_progress_bar()
    dlog.set_verbosity_error()
    torch.set_num_threads(TRAIN["threads"])
    out.mkdir(parents=True, exist_ok=True)
    n_oracle, n_fid, n_rt, n_loc = (100, 20, 2, 2) if quick else (1000, 200, 20, 20)
    scales = [5.0] if quick else [3.0, 5.0, 7.5]
    only = list(only or SECTIONS)
    prev = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() and len(only) < len(SECTIONS) else {}
    results: dict = {**prev, "quick": quick, "model": str(model_dir), "counts": {"oracle": n_oracle, "fidelity": n_fid, "roundtrip": n_rt, "localisation": n_loc}}
    results.setdefault("minutes_per_section", {})
    def done(section: str, t0: float) -> None:
        results["minutes_per_section"][section] = round((time.time() - t0) / 60, 2)
        (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")

    oracle = OnnxOracle(model_dir, scm)
    pipe = StableDiffusionXLPipeline.from_pretrained(str(model_dir / "diffusers"), torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)

    # 1. Oracle on held-out renders and their VAE reconstructions; ONNX vs torch.
    t0 = time.time()
    if "oracle" in only:
        _oracle_section(scm, oracle, pipe, results, n_oracle)
        done("oracle", t0)
    # 2. Prompt fidelity.
    t0 = time.time()
    if "fidelity" in only:
        _fidelity_section(scm, oracle, pipe, results, n_fid, scales)
        done("fidelity", t0)
    # 3. Inversion round trip; 4. localisation (diffusers' LEDITS++, which the engine matches).
    if "roundtrip" in only or "localisation" in only:
        from cgm_export.traces import _RecordingLEdits

        led = _RecordingLEdits.from_pretrained(str(model_dir / "diffusers"), torch_dtype=torch.float32)
        led.set_progress_bar_config(disable=True)
        for name, fn, n in (("roundtrip", _roundtrip_section, n_rt), ("localisation", _localisation_section, n_loc)):
            t0 = time.time()
            if name in only:
                fn(scm, led, results, n)
                done(name, t0)
    results["minutes"] = round(sum(results["minutes_per_section"].values()), 2)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "report.md").write_text(report_md(scm, results))
    return results


def _oracle_section(scm: Scm, oracle: "OnnxOracle", pipe, results: dict, n_oracle: int) -> None:
    held = render_set(scm, TRAIN["heldout_first_seed"], n_oracle)
    results["oracle_renders"] = _per_attribute(scm, oracle.read(held["images"]), held["labels"])
    with torch.no_grad():
        x = torch.from_numpy(_to_batch(held["images"][:200])) * 2 - 1
        rec = pipe.vae.decode(pipe.vae.encode(x).latent_dist.mean).sample
        rec = ((rec.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    results["oracle_vae_reconstructions"] = _per_attribute(scm, oracle.read(rec), held["labels"][:200])
    results["vae_psnr_mean"] = float(np.mean([_psnr(a, b) for a, b in zip(held["images"][:200], rec)]))
    ckpt = ROOT / ".cache" / "world" / "train" / "oracle.pt"
    if ckpt.exists():
        torch_oracle = Oracle([len(a.values) for a in scm.attributes])
        torch_oracle.load_state_dict(torch.load(ckpt)["model"])
        with torch.no_grad():
            ref = torch_oracle.eval()(torch.from_numpy(_to_batch(held["images"][:64]))).numpy()
        results["oracle_onnx_vs_torch_max_abs"] = float(np.abs(ref - oracle.logits(held["images"][:64])).max())
    _log(f"oracle: {results['oracle_renders']}")


def _fidelity_section(scm: Scm, oracle: "OnnxOracle", pipe, results: dict, n_fid: int, scales: list[float]) -> None:
    fid_scenes = [scene(scm, FIDELITY_SEED + i) for i in range(n_fid)]
    fid_caps = [caption(scm, a, i % 3) for i, (_, a) in enumerate(fid_scenes)]
    fid_labels = np.array([[a.values.index(attrs[a.id]) for a in scm.attributes] for _, attrs in fid_scenes])
    results["fidelity"] = {}
    generations = {}
    for g in scales:
        imgs = []
        for i in range(0, n_fid, 20):
            gen = torch.Generator().manual_seed(GEN_SEED + i)
            r = pipe(prompt=fid_caps[i : i + 20], num_inference_steps=50, guidance_scale=g, height=128, width=128, generator=gen)
            imgs += r.images
        arr = _pil_batch(imgs)
        generations[g] = arr
        per = _per_attribute(scm, oracle.read(arr), fid_labels)
        results["fidelity"][str(g)] = {"per_attribute": per, "mean": float(np.mean(list(per.values()))), "all_correct": float((oracle.read(arr) == fid_labels).all(1).mean())}
        _log(f"fidelity cfg {g}: mean {results['fidelity'][str(g)]['mean']:.3f}")
    contact_sheet(scm, fid_scenes[:8], generations, ROOT / "docs" / "world" / "contact-sheet.png")
    results["fp16_weights"] = fp16_effect(pipe, fid_caps[:20], generations[5.0][:20] if 5.0 in generations else None)


def _roundtrip_section(scm: Scm, led, results: dict, n_rt: int) -> None:
    """Two inversions per render: the paper's (source prompt = the caption, guidance 3.5) and an unguided
    one (empty source prompt). Generation with no edit denoises with the unconditional prediction, so only
    the unguided inversion's fitted noise reproduces its own trajectory."""
    results["roundtrip"] = {}
    for label, guided in (("caption, source guidance 3.5", True), ("empty source prompt", False)):
        rt = []
        for i in range(n_rt):
            u, attrs = scene(scm, ROUNDTRIP_SEED + i)
            img = render(attrs, u)
            led.invert(image=img, source_prompt=caption(scm, attrs, 0) if guided else "", source_guidance_scale=3.5, num_inversion_steps=50, skip=0.15, generator=torch.Generator().manual_seed(i))
            outimg = np.asarray(led(output_type="pil").images[0])
            with torch.no_grad():
                x = torch.from_numpy(_to_batch(np.asarray(img)[None])) * 2 - 1
                r = led.vae.decode(led.vae.encode(x).latent_dist.mean).sample
                recon = ((r.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()[0]
            rt.append({"psnr_vs_render": _psnr(outimg, np.asarray(img)), "psnr_vs_vae_reconstruction": _psnr(outimg, recon), "vae_psnr": _psnr(recon, np.asarray(img))})
        results["roundtrip"][label] = {k: float(np.mean([r[k] for r in rt])) for k in rt[0]}
    _log(f"round trip: {results['roundtrip']}")


def _localisation_section(scm: Scm, led, results: dict, n_loc: int) -> None:
    region_attrs = [a for a in scm.attributes if a.region]
    share: dict[str, list[float]] = {a.id: [] for a in region_attrs}
    area: dict[str, list[float]] = {a.id: [] for a in region_attrs}
    for i in range(n_loc):
        u, attrs = scene(scm, LOCAL_SEED + i)
        img = render(attrs, u)
        led.invert(image=img, source_prompt=caption(scm, attrs, 0), source_guidance_scale=3.5, num_inversion_steps=50, skip=0.15, generator=torch.Generator().manual_seed(i))
        rects = regions(u["layout"])
        for a in region_attrs:
            other = next(v for v in a.values if v != attrs[a.id])
            led(editing_prompt=[a.phrases[other]], edit_guidance_scale=8.0, edit_threshold=0.7, edit_warmup_steps=5, use_intersect_mask=True, output_type="latent")
            m = torch.zeros(16, 16)
            for (step, c), writes in led.activation_mask.writes.items():
                m += writes[0][0, 0].float() if writes[0].dim() == 4 else writes[0][0].float()
            region = np.zeros((16, 16), bool)
            x0, y0, x1, y1 = rects[a.region]
            region[y0 // 8 : -(-y1 // 8), x0 // 8 : -(-x1 // 8)] = True
            mm = m.numpy()
            if mm.sum() > 0:
                share[a.id].append(float(mm[region].sum() / mm.sum()))
            area[a.id].append(float(region.mean()))
    results["localisation"] = {a: {"mask_share_in_region": float(np.mean(share[a])) if share[a] else None, "region_share_of_image": float(np.mean(area[a]))} for a in share}
    _log(f"localisation: {results['localisation']}")


def fp16_effect(pipe, captions: list[str], fp16_images) -> dict | None:
    """The committed weights are fp16; the training checkpoint keeps the fp32 EMA. Same captions and seeds
    through both: the largest pixel difference and the mean one (0–255)."""
    ckpt = ROOT / ".cache" / "world" / "train" / "unet.pt"
    if fp16_images is None or not ckpt.exists():
        return None
    fp16_state = {k: v.clone() for k, v in pipe.unet.state_dict().items()}
    pipe.unet.load_state_dict(torch.load(ckpt)["ema"])
    gen = torch.Generator().manual_seed(GEN_SEED)
    imgs = _pil_batch(pipe(prompt=captions, num_inference_steps=50, guidance_scale=5.0, height=128, width=128, generator=gen).images)
    pipe.unet.load_state_dict(fp16_state)
    d = np.abs(imgs.astype(np.int16) - fp16_images.astype(np.int16))
    return {"images": len(captions), "max_abs_pixel": int(d.max()), "mean_abs_pixel": float(d.mean())}


def contact_sheet(scm: Scm, scenes: list, generations: dict, path: Path) -> None:
    rows = [("render", [np.asarray(render(a, u)) for u, a in scenes])] + [(f"CFG {g}", list(arr[: len(scenes)])) for g, arr in generations.items()]
    W = 128 * len(scenes) + 90
    sheet = Image.new("RGB", (W, 128 * len(rows)), "white")
    d = ImageDraw.Draw(sheet)
    for r, (label, imgs) in enumerate(rows):
        d.text((6, 128 * r + 58), label, fill=(0, 0, 0))
        for c, im in enumerate(imgs):
            sheet.paste(Image.fromarray(im), (90 + 128 * c, 128 * r))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


def report_md(scm: Scm, r: dict) -> str:
    ids = [a.id for a in scm.attributes]
    lines = ["# World model check", "", f"`cgm world check{' --quick' if r['quick'] else ''}`: {r['minutes']} minutes ({r['minutes_per_section']}). Counts: {r['counts']}.", ""]

    def row(name, per):
        return f"| {name} | " + " | ".join(f"{per[i]:.3f}" for i in ids) + f" | {np.mean(list(per.values())):.3f} |"

    lines += ["| | " + " | ".join(ids) + " | mean |", "|" + "---|" * (len(ids) + 2)]
    if "oracle_renders" in r:
        lines.append(row("oracle, held-out renders", r["oracle_renders"]))
        lines.append(row("oracle, VAE reconstructions", r["oracle_vae_reconstructions"]))
    for g, f in r.get("fidelity", {}).items():
        lines.append(row(f"prompt fidelity, CFG {g}", f["per_attribute"]))
    lines.append("")
    if "fidelity" in r:
        lines += ["All nine attributes right in one generation: " + ", ".join(f"CFG {g}: {f['all_correct']:.3f}" for g, f in r["fidelity"].items()), ""]
    if "oracle_renders" in r:
        lines += [f"VAE reconstruction PSNR {r['vae_psnr_mean']:.2f} dB. ONNX vs torch oracle: max |Δlogit| {r.get('oracle_onnx_vs_torch_max_abs', float('nan')):.2e}.", ""]
    if r.get("fp16_weights"):
        f = r["fp16_weights"]
        lines += [f"fp16 weights vs the fp32 EMA they were cast from ({f['images']} generations, CFG 5): mean |Δpixel| {f['mean_abs_pixel']:.3f}, max {f['max_abs_pixel']} (0–255).", ""]
    if "roundtrip" in r:
        lines += ["Inversion round trip (diffusers' LEDITS++ edit-friendly inversion, 50 steps, skip 0.15, then generation with no edit):", "", "| inversion | PSNR to the render | PSNR to its VAE reconstruction | VAE alone |", "|---|---|---|---|"]
        for label, rt in r["roundtrip"].items():
            lines.append(f"| {label} | {rt['psnr_vs_render']:.2f} dB | {rt['psnr_vs_vae_reconstruction']:.2f} dB | {rt['vae_psnr']:.2f} dB |")
        lines.append("")
    if "localisation" in r:
        lines += ["| attribute | share of M1 mask in its region | region's share of the 16×16 latent |", "|---|---|---|"]
        for a, v in r["localisation"].items():
            s_ = "n/a" if v["mask_share_in_region"] is None else f"{v['mask_share_in_region']:.3f}"
            lines.append(f"| {a} | {s_} | {v['region_share_of_image']:.3f} |")
    return "\n".join(lines) + "\n"
