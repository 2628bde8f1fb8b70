"""`cgm world train`: one seeded command from nothing to the committed world model.

Stages (each resumable from .cache/world/train): render the training scenes → train the VAE → encode latents and
set the VAE's scaling factor → train the oracle on renders and VAE reconstructions → train the UNet on latents
with the frozen text encoders (checkpoint every few hundred steps; rerunning resumes) → write world/model/.
Every random draw of step k comes from a generator seeded by (seed, stage, k), so a resumed run is the run.
"""

from __future__ import annotations

import copy
import json
import math
import subprocess
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .captions import training_caption
from .config import TRAIN
from .data import render_set
from .model import build_unet, build_vae, encode_prompts, text_parts, time_ids
from .oracle import Oracle
from .plot import loss_curve
from .scm import Scm

ROOT = Path(__file__).resolve().parents[2]


def _log(msg: str) -> None:
    print(f"[world-train] {msg}", flush=True)


def _save(obj, path: Path) -> None:
    """torch.save through a temporary file and a rename, so a kill mid-write never leaves a torn checkpoint."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def _gen(seed: int, stage: int, step: int) -> tuple[torch.Generator, np.random.Generator]:
    s = (seed * 1_000_003 + stage * 7_919 + step) % (2**63)
    return torch.Generator().manual_seed(s), np.random.default_rng(s)


def _images_to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0


class LossLog:
    def __init__(self, path: Path):
        self.path = path
        self.rows = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []

    def add(self, **row) -> None:
        self.rows.append(row)
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")

    def series(self, stage: str, key: str, every: int = 1) -> list[tuple[int, float]]:
        rows = [r for r in self.rows if r["stage"] == stage]
        out = []
        for i in range(0, len(rows), every):
            chunk = rows[i : i + every]
            out.append((chunk[-1]["step"], float(np.mean([r[key] for r in chunk]))))
        return out


def train_vae(cfg: dict, images: np.ndarray, work: Path, log: LossLog, seed: int):
    ckpt = work / "vae.pt"
    vae = build_vae(cfg["widths"], seed)
    state = torch.load(ckpt) if ckpt.exists() else None
    if state and state["step"] >= cfg["steps"]:
        vae.load_state_dict(state["model"])
        return vae.eval(), state["minutes"]
    opt = torch.optim.AdamW(vae.parameters(), lr=cfg["lr"])
    start, minutes = 0, 0.0
    if state:
        vae.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        start, minutes = state["step"], state["minutes"]
    sched = lambda k: 0.5 * (1 + math.cos(math.pi * k / cfg["steps"]))  # noqa: E731
    t0 = time.time()
    vae.train()
    bar = tqdm(range(start, cfg["steps"]), desc="vae", initial=start, total=cfg["steps"])
    for k in bar:
        g, rng = _gen(seed, 1, k)
        idx = rng.integers(0, len(images), cfg["batch"])
        x = _images_to_tensor(images[idx]) * 2 - 1
        for pg in opt.param_groups:
            pg["lr"] = cfg["lr"] * sched(k)
        post = vae.encode(x).latent_dist
        z = post.mean + post.std * torch.randn(post.mean.shape, generator=g)
        rec = vae.decode(z).sample
        l1 = (rec - x).abs().mean()
        kl = post.kl().mean()
        loss = l1 + cfg["kl"] * kl
        opt.zero_grad()
        loss.backward()
        opt.step()
        log.add(stage="vae", step=k + 1, l1=float(l1), kl=float(kl))
        bar.set_postfix(l1=f"{float(l1):.4f}")
        if (k + 1) % 250 == 0 or k + 1 == cfg["steps"]:
            m = minutes + (time.time() - t0) / 60
            _save({"model": vae.state_dict(), "opt": opt.state_dict(), "step": k + 1, "minutes": m}, ckpt)
    return vae.eval(), minutes + (time.time() - t0) / 60


@torch.no_grad()
def encode_latents(vae, images: np.ndarray, work: Path) -> np.ndarray:
    path = work / "latents.npy"
    if path.exists():
        return np.load(path)
    out = []
    for i in tqdm(range(0, len(images), 128), desc="latents"):
        out.append(vae.encode(_images_to_tensor(images[i : i + 128]) * 2 - 1).latent_dist.mean.numpy())
    lat = np.concatenate(out)
    np.save(path, lat)
    return lat


@torch.no_grad()
def reconstruct(vae, latents: np.ndarray) -> np.ndarray:
    out = []
    for i in range(0, len(latents), 128):
        rec = vae.decode(torch.from_numpy(latents[i : i + 128])).sample
        out.append(((rec.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy())
    return np.concatenate(out)


def train_oracle(cfg: dict, scm: Scm, images: np.ndarray, labels: np.ndarray, work: Path, log: LossLog, seed: int):
    ckpt = work / "oracle.pt"
    counts = [len(a.values) for a in scm.attributes]
    model = Oracle(counts)
    if ckpt.exists():
        state = torch.load(ckpt)
        model.load_state_dict(state["model"])
        return model.eval(), state["minutes"]
    torch.manual_seed(seed + 5)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=1e-4)
    t0 = time.time()
    model.train()
    bar = tqdm(range(cfg["steps"]), desc="oracle")
    for k in bar:
        g, rng = _gen(seed, 3, k)
        idx = rng.integers(0, len(images), cfg["batch"])
        x = _images_to_tensor(images[idx])
        # Mild photometric noise: generated images are never pixel-exact renders.
        x = (x * (1 + 0.06 * torch.randn(len(idx), 1, 1, 1, generator=g)) + 0.03 * torch.randn(x.shape, generator=g)).clamp(0, 1)
        for pg in opt.param_groups:
            pg["lr"] = cfg["lr"] * 0.5 * (1 + math.cos(math.pi * k / cfg["steps"]))
        logits = model.split(model(x))
        y = torch.from_numpy(labels[idx])
        loss = sum(F.cross_entropy(lg, y[:, j]) for j, lg in enumerate(logits))
        opt.zero_grad()
        loss.backward()
        opt.step()
        log.add(stage="oracle", step=k + 1, loss=float(loss))
        bar.set_postfix(loss=f"{float(loss):.4f}")
    minutes = (time.time() - t0) / 60
    _save({"model": model.state_dict(), "minutes": minutes}, ckpt)
    return model.eval(), minutes


def train_unet(cfg: dict, scm: Scm, latents: np.ndarray, labels: np.ndarray, text: dict, work: Path, log: LossLog, seed: int):
    from diffusers import DDPMScheduler

    ckpt = work / "unet.pt"
    unet = build_unet(cfg["widths"], cfg["heads"], seed + 10)
    ema = copy.deepcopy(unet).requires_grad_(False)
    opt = torch.optim.AdamW(unet.parameters(), lr=cfg["lr"], weight_decay=1e-2)
    start, minutes = 0, 0.0
    if ckpt.exists():
        state = torch.load(ckpt)
        unet.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        start, minutes = state["step"], state["minutes"]
    if start >= cfg["steps"]:
        return ema.eval(), minutes
    noise_sched = DDPMScheduler.from_config(text["scheduler"].config)
    alphas = noise_sched.alphas_cumprod
    snr = alphas / (1 - alphas)
    names = [a.id for a in scm.attributes]

    def lr_at(k):
        if k < cfg["warmup"]:
            return cfg["lr"] * (k + 1) / cfg["warmup"]
        return cfg["lr"] * 0.5 * (1 + math.cos(math.pi * (k - cfg["warmup"]) / (cfg["steps"] - cfg["warmup"])))

    t0 = time.time()
    unet.train()
    bar = tqdm(range(start, cfg["steps"]), desc="unet", initial=start, total=cfg["steps"])
    for k in bar:
        g, rng = _gen(seed, 4, k)
        idx = rng.integers(0, len(latents), cfg["batch"])
        captions = []
        for i in idx:
            attrs = {n: scm.by_id[n].values[labels[i, j]] for j, n in enumerate(names)}
            captions.append(training_caption(scm, attrs, rng))
        emb, pooled = encode_prompts(text, captions)
        x0 = torch.from_numpy(latents[idx])
        noise = torch.randn(x0.shape, generator=g)
        t = torch.randint(0, noise_sched.config.num_train_timesteps, (len(idx),), generator=g)
        xt = noise_sched.add_noise(x0, noise, t)
        for pg in opt.param_groups:
            pg["lr"] = lr_at(k)
        pred = unet(xt, t, emb, added_cond_kwargs={"text_embeds": pooled, "time_ids": time_ids(len(idx))}).sample
        # min-SNR-γ weighting (Hang et al. 2023) for ε-prediction: w = min(SNR, γ) / SNR.
        w = torch.clamp(snr[t], max=cfg["min_snr_gamma"]) / snr[t]
        per = ((pred - noise) ** 2).mean(dim=(1, 2, 3))
        loss = (w * per).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        decay = min(cfg["ema"], (1 + k) / (10 + k))
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), unet.parameters()):
                pe.mul_(decay).add_(pm.detach(), alpha=1 - decay)
        log.add(stage="unet", step=k + 1, loss=float(loss), mse=float(per.mean()))
        bar.set_postfix(loss=f"{float(loss):.4f}")
        if (k + 1) % cfg["checkpoint_every"] == 0 or k + 1 == cfg["steps"]:
            m = minutes + (time.time() - t0) / 60
            _save({"model": unet.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(), "step": k + 1, "minutes": m}, ckpt)
    return ema.eval(), minutes + (time.time() - t0) / 60


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except Exception:
        return "unknown"


def export_oracle(model: Oracle, out: Path) -> None:
    x = torch.rand(2, 3, 128, 128)
    torch.onnx.export(
        model, (x,), str(out), input_names=["image"], output_names=["logits"],
        dynamic_axes={"image": {0: "n"}, "logits": {0: "n"}}, opset_version=17, dynamo=False,
    )


def run(out: Path, work: Path, stop_after: str | None = None) -> dict:
    cfg = TRAIN
    torch.set_num_threads(cfg["threads"])
    seed = cfg["seed"]
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    scm = Scm.load()
    log = LossLog(work / "loss.jsonl")
    t_all = time.time()
    _log(f"rendering {cfg['train_scenes']} training scenes")
    t0 = time.time()
    data = render_set(scm, cfg["train_first_seed"], cfg["train_scenes"], cache=work, log=_log)
    render_min = (time.time() - t0) / 60
    vae, vae_min = train_vae(cfg["vae"], data["images"], work, log, seed)
    latents = encode_latents(vae, data["images"], work)
    scaling = float(1.0 / latents.std())
    vae.register_to_config(scaling_factor=scaling)
    _log(f"VAE scaling factor {scaling:.5f}")
    if stop_after == "vae":
        return {}
    recon = reconstruct(vae, latents[:4000])
    oracle_imgs = np.concatenate([data["images"], recon])
    oracle_labels = np.concatenate([data["labels"], data["labels"][:4000]])
    oracle, oracle_min = train_oracle(cfg["oracle"], scm, oracle_imgs, oracle_labels, work, log, seed)
    if stop_after == "oracle":
        return {}
    text = text_parts(work / "tokenizers")
    unet, unet_min = train_unet(cfg["unet"], scm, latents * scaling, data["labels"], text, work, log, seed)
    return write_model(out, work, scm, vae, unet, oracle, text, log, {
        "render": render_min, "vae": vae_min, "oracle": oracle_min, "unet": unet_min,
        "this_invocation": (time.time() - t_all) / 60,
    })


def write_model(out: Path, work: Path, scm: Scm, vae, unet, oracle, text: dict, log: LossLog, minutes: dict) -> dict:
    from diffusers import StableDiffusionXLPipeline

    pipe = StableDiffusionXLPipeline(vae=vae, unet=unet, force_zeros_for_empty_prompt=True, **text)
    pipe.to(torch.float16).save_pretrained(str(out / "diffusers"), safe_serialization=True)
    export_oracle(oracle, out / "oracle.onnx")
    (out / "oracle.json").write_text(json.dumps({
        "input": "image: N×3×128×128 float32 RGB in [0, 1]",
        "output": "logits: N×ΣK, one block per attribute in this order",
        "attributes": [{"id": a.id, "values": list(a.values)} for a in scm.attributes],
    }, indent=2) + "\n")
    u = log.series("unet", "loss", every=100)
    loss_curve({"unet loss (min-SNR weighted, mean of 100 steps)": u}, out / "loss-unet.png", "world UNet training loss")
    loss_curve({"vae L1": log.series("vae", "l1", every=25), "oracle CE": log.series("oracle", "loss", every=25)}, out / "loss-vae-oracle.png", "world VAE and oracle training loss")
    cfg = TRAIN
    record = {
        "config": cfg,
        "training_code_commit": _git_commit(),
        "minutes": {k: round(v, 2) for k, v in minutes.items()},
        "minutes_total": round(sum(v for k, v in minutes.items() if k != "this_invocation"), 2),
        "final": {
            "vae_l1_last100": float(np.mean([r["l1"] for r in log.rows if r["stage"] == "vae"][-100:])),
            "oracle_ce_last100": float(np.mean([r["loss"] for r in log.rows if r["stage"] == "oracle"][-100:])),
            "unet_loss_last500": float(np.mean([r["loss"] for r in log.rows if r["stage"] == "unet"][-500:])),
        },
        "vae_scaling_factor": float(vae.config.scaling_factor),
        "weights_dtype": "float16 (safetensors); loaded as float32",
        "torch": torch.__version__,
    }
    (out / "record.json").write_text(json.dumps(record, indent=2) + "\n")
    _log(f"model written to {out}")
    return record
