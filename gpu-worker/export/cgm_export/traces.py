"""Reference traces on the tiny model (docs/algorithm.md §6 item 16): ground truth for the engine's parity tests.

Three runs, all from the same input image and x0:
  ledits  diffusers' own LEditsPPPipelineStableDiffusionXL (DPM-Solver++ 2M SDE): invert + edit with 3 concepts.
          Recorded without changing what it computes: the forward noises by wrapping the module's randn_tensor,
          x0 by wrapping encode_image, ε_u/ε_c by a forward hook on the UNet, the per-step latents by wrapping
          scheduler.step, and both masks from the pipeline's own activation_mask writes (M1 is written first,
          then overwritten by M1⊙M2). M2 alone is recomputed from the recorded ε with the same torch ops and
          checked against the pipeline's M1⊙M2.
  efddpm  edit-friendly DDPM inversion = the same diffusers pipeline's invert() with a DDIMScheduler (η=1,
          docs/algorithm.md §4.2), then our own CFG sampling loop on the target prompt with DDIMScheduler.step(eta=1, zs[i]).
  ddim    DDIM inversion (η=0): our re-implementation of docs/algorithm.md §4.1 (upward pass queries the model at the
          target timestep, like DDIMInverseScheduler), then DDIMScheduler.step(eta=0) with CFG. The upward
          pass is also run in float64 and from slightly moved x0s: the end-to-end conditioning of the pass.
Layout: index.json + one .npy per tensor (fp32, or int64 for timesteps/token ids).
"""

from __future__ import annotations

import copy
import json
import math
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from diffusers import (
    DDIMInverseScheduler,
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    LEditsPPPipelineStableDiffusionXL,
    StableDiffusionXLPipeline,
)
from diffusers.pipelines.ledits_pp import pipeline_leditspp_stable_diffusion_xl as ledits_module
from PIL import Image

N = 20
N_PAPER = 100  # one LEDITS++ run at the paper's step count
SKIP = 0.15
SOURCE_PROMPT = "a photo of a cat"
SOURCE_SCALE = 3.5
EDITS = {
    "editing_prompt": ["a dog", "sunglasses", "a red hat on the head"],
    "edit_guidance_scale": [8.0, 6.0, 5.0],
    "edit_threshold": [0.7, 0.7, 0.8],
    "edit_warmup_steps": [2, 2, 3],
    "reverse_editing_direction": [False, True, False],
    "use_intersect_mask": True,
}
# The paper's Eq. 12 as written (csgBase 'interventional'): ε on the interventional prompt Y_{C_i} plus
# masked descendant terms. diffusers has no such option, but an editing prompt at scale 1 with threshold 0
# (all-ones masks) and no warm-up, placed last, adds exactly ε(Y_{C_i}) − ε_u to ε_u: the same estimate.
EQ12_INTERVENTIONAL_PROMPT = "a photo of a dog wearing sunglasses"
EQ12_EDITS = {
    "editing_prompt": ["sunglasses", EQ12_INTERVENTIONAL_PROMPT],
    "edit_guidance_scale": [6.0, 1.0],
    "edit_threshold": [0.7, 0.0],
    "edit_warmup_steps": [2, 0],
    "reverse_editing_direction": [False, False],
    "use_intersect_mask": True,
}
BASELINE_TARGET = "a photo of a dog"
BASELINE_SCALE = 7.5
SEED = 1234


class _Trace:
    def __init__(self, out: Path):
        self.out = out
        self.index: dict[str, dict] = {}

    def add(self, name: str, value, description: str) -> None:
        arr = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
        arr = arr.astype(np.int64) if arr.dtype.kind in "iub" and "mask" not in name else arr.astype(np.float32)
        file = f"{name.replace('/', '__')}.npy"
        np.save(self.out / file, arr)
        self.index[name] = {"file": file, "shape": list(arr.shape), "dtype": str(arr.dtype), "description": description}


class _MaskLog:
    """Stands in for the pipeline's activation_mask tensor and keeps every write per (step, concept)."""

    def __init__(self, tensor: torch.Tensor):
        self.tensor = tensor
        self.writes: dict[tuple[int, int], list[torch.Tensor]] = {}

    def __setitem__(self, key, value):
        self.tensor[key] = value
        self.writes.setdefault(tuple(int(k) for k in key), []).append(value.detach().clone())

    def __getitem__(self, key):
        return self.tensor[key]


class _RecordingLEdits(LEditsPPPipelineStableDiffusionXL):
    @property
    def activation_mask(self):
        return self.__dict__.get("_activation_mask")

    @activation_mask.setter
    def activation_mask(self, value):
        self.__dict__["_activation_mask"] = _MaskLog(value) if isinstance(value, torch.Tensor) else value


def _input_image(width: int, height: int) -> Image.Image:
    # deterministic, structured (not noise): smooth colour gradients and a disc
    y, x = np.mgrid[0:height, 0:width] / (max(width, height) - 1)
    disc = ((x - 0.6) ** 2 + (y - 0.4) ** 2 < 0.06).astype(np.float64)
    rgb = np.stack([0.2 + 0.6 * x, 0.3 + 0.5 * y * (1 - disc) + 0.6 * disc, 0.8 - 0.5 * x * y], axis=-1)
    return Image.fromarray(np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8))


def _record_noises(log: list):
    original = ledits_module.randn_tensor

    def wrapper(*args, **kwargs):
        noise = original(*args, **kwargs)
        log.append(noise.detach().clone())
        return noise

    return original, wrapper


def _invert(pipe, image, log_prefix: str, trace: _Trace, timesteps_note: str, steps: int = N):
    """Runs pipe.invert with recording; returns x0. Noises are drawn low→high t; stored in denoising order."""
    noises: list[torch.Tensor] = []
    x0_box: list[torch.Tensor] = []
    original_encode = pipe.encode_image

    def encode_image(*a, **kw):
        x0, resized = original_encode(*a, **kw)
        x0_box.append(x0.detach().clone())
        return x0, resized

    original, wrapper = _record_noises(noises)
    ledits_module.randn_tensor = wrapper
    pipe.encode_image = encode_image
    try:
        pipe.invert(
            image=image,
            source_prompt=SOURCE_PROMPT,
            source_guidance_scale=SOURCE_SCALE,
            num_inversion_steps=steps,
            skip=SKIP,
            generator=torch.Generator().manual_seed(SEED),
        )
    finally:
        ledits_module.randn_tensor = original
        del pipe.encode_image
    trace.add(f"{log_prefix}/x0", x0_box[0], "scaled VAE latent mean of the input image (x0 = mean·scaling_factor)")
    trace.add(
        f"{log_prefix}/timesteps", pipe.inversion_steps, f"timesteps of the run, denoising order ({timesteps_note})"
    )
    trace.add(
        f"{log_prefix}/forward_noises",
        torch.stack(noises[::-1]),
        "n_k ~ N(0,I) used for y at timesteps[k] (denoising order; diffusers draws them low→high t)",
    )
    trace.add(
        f"{log_prefix}/zs",
        pipe.zs,
        "per-step noise maps zs[k] for the step at timesteps[k] (after num_zero_noise_steps=3)",
    )
    trace.add(f"{log_prefix}/init_latents", pipe.init_latents, "initial latent x_T' = y at timesteps[0]")
    return x0_box[0]


def _unet_log(pipe, log: list, inputs: list | None = None):
    def hook(m, a, kw, out):
        log.append(out[0].detach().clone())
        if inputs is not None and not inputs:
            inputs.append(
                {
                    "encoder_hidden_states": kw["encoder_hidden_states"].detach().clone(),
                    **{k: v.detach().clone() for k, v in kw["added_cond_kwargs"].items()},
                }
            )

    return pipe.unet.register_forward_hook(hook, with_kwargs=True)


def _step_log(scheduler, log: list):
    original = scheduler.step

    def step(*a, **kw):
        out = original(*a, **kw)
        log.append((out[0] if isinstance(out, tuple) else out.prev_sample).detach().clone())
        return out

    scheduler.step = step


def _ledits(pipe, image, trace: _Trace) -> dict:
    x0 = _invert(pipe, image, "ledits", trace, "DPM leading grid, last N of T=trunc(N·(1+skip))")
    eps: list[torch.Tensor] = []
    steps: list[torch.Tensor] = []
    cond: list[dict] = []
    hook = _unet_log(pipe, eps, cond)
    _step_log(pipe.scheduler, steps)
    try:
        latents = pipe(**EDITS, output_type="latent", return_dict=False)[0]
    finally:
        hook.remove()
        del pipe.scheduler.step
    eps_all = torch.stack(eps)  # (N, 1+E, 4, h, w)
    trace.add(
        "ledits/unet_encoder_hidden_states",
        cond[0]["encoder_hidden_states"],
        "UNet text conditioning while editing: [zeros, TE1‖TE2 hidden_states[-2] per editing prompt]",
    )
    trace.add(
        "ledits/unet_text_embeds",
        cond[0]["text_embeds"],
        "UNet pooled conditioning while editing: [zeros, TE2 text_embeds per editing prompt]",
    )
    trace.add("ledits/unet_time_ids", cond[0]["time_ids"], "UNet time_ids while editing")
    trace.add("ledits/eps_uncond", eps_all[:, 0:1], "ε_u per step (UNet entry 0, zero conditioning)")
    trace.add("ledits/eps_concepts", eps_all[:, 1:], "ε_c per step and concept (UNet entries 1..E)")
    trace.add("ledits/latents", torch.stack(steps), "latent after each scheduler step (x_{k+1})")
    trace.add("ledits/final_latents", latents, "output latents (before VAE decode)")
    log: _MaskLog = pipe.activation_mask
    E = len(EDITS["editing_prompt"])
    m1 = torch.zeros(N, E, 1, 4, *latents.shape[-2:])
    m2 = torch.zeros_like(m1)
    inter = torch.zeros_like(m1)
    for (i, c), writes in log.writes.items():
        attn, both = writes
        m1[i, c], inter[i, c] = attn, both
        g = (eps_all[i, 1 + c] - eps_all[i, 0]).unsqueeze(0)
        if EDITS["reverse_editing_direction"][c]:
            g = g * -1
        g = g * EDITS["edit_guidance_scale"][c]
        s = torch.sum(torch.abs(g), dim=1, keepdim=True).repeat(1, 4, 1, 1)
        tau = torch.quantile(s.flatten(start_dim=2), EDITS["edit_threshold"][c], dim=2)
        m2[i, c] = torch.where(s >= tau[:, :, None, None], 1.0, 0.0)
        if not torch.equal(m2[i, c] * m1[i, c], inter[i, c]):
            raise RuntimeError(f"recomputed M2 disagrees with the pipeline's M1⊙M2 at step {i}, concept {c}")
    trace.add(
        "ledits/mask_attention",
        m1,
        "M1 per step/concept (cross-attention mask upsampled to latent size, 4 channels); 0 during warmup",
    )
    trace.add("ledits/mask_noise", m2, "M2 per step/concept (|g_c| quantile mask); 0 during warmup")
    trace.add("ledits/mask_intersect", inter, "M1⊙M2 as applied by diffusers")
    decoded = pipe.vae.decode(latents / pipe.vae.config.scaling_factor, return_dict=False)[0]
    trace.add("ledits/decoded", decoded, "vae.decode(final/scaling_factor), range ~[-1,1], not clamped")
    warmed = [(i, c) for (i, c) in log.writes]
    return {"x0": x0, "masked_steps": len(warmed)}


def _ledits_again(pipe, trace: _Trace, family: str, edits: dict, what: str, decode: bool = False) -> None:
    """Another edit of the same inversion (diffusers resets the scheduler per call): latents per step, final."""
    steps: list[torch.Tensor] = []
    _step_log(pipe.scheduler, steps)
    try:
        latents = pipe(**edits, output_type="latent", return_dict=False)[0]
    finally:
        del pipe.scheduler.step
    trace.add(f"{family}/latents", torch.stack(steps), f"{what}: latent after each scheduler step")
    trace.add(f"{family}/final_latents", latents, f"{what}: output latents")
    if decode:
        image = pipe.vae.decode(latents / pipe.vae.config.scaling_factor, return_dict=False)[0]
        trace.add(f"{family}/decoded", image, f"{what}: vae.decode(final/scaling_factor), not clamped")


@contextmanager
def _word_length_spans(pipe):
    """diffusers as it computes with tokenizers that report a batch's lengths before padding (transformers'
    Python CLIPTokenizer): num_edit_tokens = length − 2 is then the concept's own token count, the engine's
    'words' span. The installed Rust-backed tokenizer reports the padded 77 (quirk Q5, 'padded75')."""
    cls = type(pipe.tokenizer_2)
    original = cls.__call__

    def call(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        if kwargs.get("return_length"):
            out["length"] = out["attention_mask"].sum(dim=-1)  # BOS + tokens + EOS, before padding
        return out

    cls.__call__ = call
    try:
        yield
    finally:
        cls.__call__ = original


# The two other mask modes of LEDITS++: cross-attention masks only (M1), noise masks only (M2).
MASK_MODE_EDITS = {
    "attention": {**EDITS, "use_intersect_mask": False, "use_cross_attn_mask": True},
    "noise": {**EDITS, "use_intersect_mask": False, "use_cross_attn_mask": False},
}


@torch.no_grad()
def _conditioning(sdxl, prompt: str):
    embeds, _, pooled, _ = sdxl.encode_prompt(
        prompt=prompt, device="cpu", num_images_per_prompt=1, do_classifier_free_guidance=False
    )
    return embeds, pooled


def _efddpm(pipe_kwargs: dict, image, trace: _Trace, family: str = "efddpm") -> None:
    ddim = DDIMScheduler.from_config(pipe_kwargs["scheduler"].config, clip_sample=False, set_alpha_to_one=False)
    pipe = LEditsPPPipelineStableDiffusionXL(**{**pipe_kwargs, "scheduler": ddim})
    pipe.set_progress_bar_config(disable=True)
    _invert(pipe, image, family, trace, "DDIM leading grid, last N of T")
    _cfg_sample(pipe_kwargs, pipe.init_latents, pipe.inversion_steps, trace, family, eta=1.0, zs=pipe.zs)


def _time_ids(h: int, w: int) -> torch.Tensor:
    return torch.tensor([[h, w, 0, 0, h, w]], dtype=torch.float32)


@torch.no_grad()
def _cfg_sample(parts: dict, latents, timesteps, trace: _Trace, prefix: str, eta: float, zs=None) -> None:
    """Target-prompt CFG sampling with DDIMScheduler.step; zs given → edit-friendly (η=1) replay."""
    sched = DDIMScheduler.from_config(parts["scheduler"].config, clip_sample=False, set_alpha_to_one=False)
    sdxl = StableDiffusionXLPipeline(
        **{k: parts[k] for k in ("vae", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "unet")},
        scheduler=sched,
    )
    emb, pooled = _conditioning(sdxl, BASELINE_TARGET)
    trace.add(f"{prefix}/target_prompt_embeds", emb, f"TE1‖TE2 hidden_states[-2] of {BASELINE_TARGET!r}")
    trace.add(f"{prefix}/target_pooled", pooled, "TE2 text_embeds of the target prompt")
    H, W = (d * sdxl.vae_scale_factor for d in latents.shape[-2:])
    cond = torch.cat([torch.zeros_like(emb), emb])
    added = {"text_embeds": torch.cat([torch.zeros_like(pooled), pooled]), "time_ids": _time_ids(H, W).repeat(2, 1)}
    sched.set_timesteps(int(N * (1 + SKIP)))
    eps_u, eps_c, steps = [], [], []
    x = latents
    for i, t in enumerate(timesteps):
        out = parts["unet"](
            torch.cat([x, x]), t, encoder_hidden_states=cond, added_cond_kwargs=added, return_dict=False
        )[0]
        u, c = out.chunk(2)
        eps_u.append(u)
        eps_c.append(c)
        eps = u + BASELINE_SCALE * (c - u)
        noise = zs[i] if zs is not None else None
        x = sched.step(eps, t, x, eta=eta, variance_noise=noise, return_dict=False)[0]
        steps.append(x)
    trace.add(f"{prefix}/eps_uncond", torch.stack(eps_u), "ε_u per sampling step")
    trace.add(f"{prefix}/eps_target", torch.stack(eps_c), "ε_target per sampling step")
    trace.add(f"{prefix}/latents", torch.stack(steps), "latent after each sampling step")
    trace.add(f"{prefix}/final_latents", x, f"output latents (CFG {BASELINE_SCALE} on the target prompt)")
    trace.add(
        f"{prefix}/decoded",
        parts["vae"].decode(x / parts["vae"].config.scaling_factor, return_dict=False)[0],
        "decoded image, ~[-1,1]",
    )


# DDIM inversion has no error correction and, on this random model with CFG 3.5, is ill-conditioned: an
# input change at fp32's resolution ends ~1e-3 away. So besides the fp32 run the trace records (a) the same
# upward pass in float64, the closest thing to the exact answer, and (b) fp32 runs from x0 moved by
# PERTURBATION (relative, ~1 ulp), whose distance from (a) is fp32's own noise floor on this problem.
PERTURBATION = 1e-7
PERTURBED_RUNS = 4


def _ddim_inverse(unet, scheduler_config, T: int, run, cond, added, x0: torch.Tensor) -> list[torch.Tensor]:
    """The upward pass with diffusers' own DDIMInverseScheduler.step: x_t after each step, ascending t."""
    inv = DDIMInverseScheduler.from_config(scheduler_config, clip_sample=False, set_alpha_to_one=False)
    inv.set_timesteps(T)
    if not set(run.tolist()) <= set(inv.timesteps.tolist()):
        raise RuntimeError("the inverse scheduler's grid does not hold the run's timesteps")
    x = x0
    ups = []
    for t in run.flip(0):  # ascending
        out = unet(torch.cat([x, x]), t, encoder_hidden_states=cond, added_cond_kwargs=added, return_dict=False)[0]
        u, c = out.chunk(2)
        x = inv.step(u + SOURCE_SCALE * (c - u), int(t), x, return_dict=False)[0]
        ups.append(x)
    return ups


def _ddim_upward(unet, ac, final_alpha, run, r: int, cond, added, x0: torch.Tensor) -> list[torch.Tensor]:
    """The upward pass of docs/algorithm.md §4.1 written out, in the dtype of its inputs (float64 here)."""
    x = x0
    ups = []
    for t in run.flip(0):  # ascending
        prev = int(t) - r
        a_prev = ac[prev] if prev >= 0 else final_alpha
        out = unet(torch.cat([x, x]), t, encoder_hidden_states=cond, added_cond_kwargs=added, return_dict=False)[0]
        u, c = out.chunk(2)
        eps = u + SOURCE_SCALE * (c - u)
        d = (x - (1 - a_prev).sqrt() * eps) / a_prev.sqrt()
        x = ac[t].sqrt() * d + (1 - ac[t]).sqrt() * eps
        ups.append(x)
    return ups


@torch.no_grad()
def _ddim(pipe_kwargs: dict, x0: torch.Tensor, trace: _Trace) -> None:
    """DDIM inversion (η=0) up to the first timestep of the N-step run, source-prompt CFG, then η=0 sampling."""
    sched = DDIMScheduler.from_config(pipe_kwargs["scheduler"].config, clip_sample=False, set_alpha_to_one=False)
    T = math.trunc(N * (1 + SKIP))
    sched.set_timesteps(T)
    run = sched.timesteps[-N:]  # denoising order
    r = sched.config.num_train_timesteps // T
    ac = sched.alphas_cumprod
    sdxl = StableDiffusionXLPipeline(
        **{k: pipe_kwargs[k] for k in ("vae", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "unet")},
        scheduler=sched,
    )
    emb, pooled = _conditioning(sdxl, SOURCE_PROMPT)
    H, W = (d * sdxl.vae_scale_factor for d in x0.shape[-2:])
    cond = torch.cat([torch.zeros_like(emb), emb])
    added = {"text_embeds": torch.cat([torch.zeros_like(pooled), pooled]), "time_ids": _time_ids(H, W).repeat(2, 1)}
    unet = pipe_kwargs["unet"]
    ups = _ddim_inverse(unet, pipe_kwargs["scheduler"].config, T, run, cond, added, x0)
    x = ups[-1]
    trace.add("ddim/timesteps", run, "DDIM leading grid, last N of T (denoising order)")
    trace.add("ddim/x0", x0, "same x0 as the ledits run")
    trace.add(
        "ddim/inversion_latents",
        torch.stack(ups),
        "x_t after each upward step (diffusers' DDIMInverseScheduler.step), ascending t (last = init)",
    )
    trace.add("ddim/init_latents", x, "x at timesteps[0] from the inversion")

    def f64(v: torch.Tensor) -> torch.Tensor:
        return v.to(torch.float64)

    unet64 = copy.deepcopy(unet).to(torch.float64)
    exact = _ddim_upward(
        unet64,
        f64(ac),
        f64(sched.final_alpha_cumprod),
        run,
        r,
        f64(cond),
        {k: f64(v) for k, v in added.items()},
        f64(x0),
    )[-1]
    del unet64
    trace.add("ddim/init_latents_fp64", exact, "the same upward pass in float64 (stored as fp32)")
    g = torch.Generator().manual_seed(SEED)
    moved = []
    for _ in range(PERTURBED_RUNS):
        start = x0 * (1 + PERTURBATION * torch.randn(x0.shape, generator=g))
        moved.append(_ddim_inverse(unet, pipe_kwargs["scheduler"].config, T, run, cond, added, start)[-1])
    trace.add(
        "ddim/init_latents_perturbed",
        torch.stack(moved),
        f"fp32 upward passes from x0·(1 + {PERTURBATION:g}·n), n ~ N(0, I) seeded: fp32's noise floor here",
    )

    _cfg_sample(pipe_kwargs, x, run, trace, "ddim", eta=0.0)


# A 4:3 landscape image (W, H) in multiples of 32 at the tiny model's width: the SDXL time ids' (W, H) order
# and the attention grid's row order only show when H ≠ W.
NON_SQUARE_SIZE = (128, 96)


def _non_square(pipe, kwargs: dict, out: Path, trace: _Trace, size: int) -> None:
    """LEDITS++ and EF-DDPM on a non-square PNG that diffusers preprocesses itself (the engine decodes it too)."""
    w, h = NON_SQUARE_SIZE[0] * size // 128, NON_SQUARE_SIZE[1] * size // 128
    image = _input_image(w, h)
    image.save(out / "wide_input.png")
    trace.add(
        "wide/input_image",
        torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1).unsqueeze(0),
        f"the non-square input ({w}x{h}, W x H), also written as wide_input.png",
    )
    _invert(pipe, image, "ledits_wide", trace, "DPM leading grid, last N of T (non-square)")
    _ledits_again(pipe, trace, "ledits_wide", EDITS, "the three-concept edit of the non-square image", decode=True)
    _efddpm(kwargs, image, trace, family="efddpm_wide")


@torch.no_grad()
def write_traces(diffusers_dir: Path, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    pipe = _RecordingLEdits.from_pretrained(str(diffusers_dir), torch_dtype=torch.float32)
    if not isinstance(pipe.scheduler, DPMSolverMultistepScheduler):
        raise RuntimeError("expected the DPM-Solver++ scheduler")
    pipe.set_progress_bar_config(disable=True)
    size = pipe.default_sample_size * pipe.vae_scale_factor if pipe.default_sample_size else 128
    image = _input_image(size, size)
    trace = _Trace(out)
    pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1).unsqueeze(0)
    trace.add("input_image", pixels, "input image, [1,3,H,W] in [0,1] (uint8/255; diffusers maps it to 2x-1)")
    info = _ledits(pipe, image, trace)
    _ledits_again(pipe, trace, "ledits_eq12", EQ12_EDITS, "Eq. 12 edit (Y_{C_i} as a scale-1, threshold-0 last prompt)")
    for mode, edits in MASK_MODE_EDITS.items():
        _ledits_again(pipe, trace, f"ledits_{mode}", edits, f"the same three concepts with {mode}-only masks")
    with _word_length_spans(pipe):
        _ledits_again(pipe, trace, "ledits_words", EDITS, "the same edit with each concept's own token span")
    # The paper's step count: a fresh inversion at N_PAPER steps, then the same three-concept edit.
    _invert(pipe, image, "ledits_n100", trace, "DPM leading grid, last 100 of T=114", steps=N_PAPER)
    _ledits_again(pipe, trace, "ledits_n100", EDITS, f"the three-concept edit at N={N_PAPER}")
    kwargs = {
        k: getattr(pipe, k)
        for k in ("vae", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "unet", "scheduler")
    }
    _efddpm(kwargs, image, trace)
    _ddim(kwargs, info["x0"], trace)
    _non_square(pipe, kwargs, out, trace, size)
    index = {
        "format": "cgm-traces/1",
        "settings": {
            "num_inversion_steps": N,
            "paper_inversion_steps": N_PAPER,
            "skip": SKIP,
            "source_prompt": SOURCE_PROMPT,
            "source_guidance_scale": SOURCE_SCALE,
            "num_zero_noise_steps": 3,
            "seed": SEED,
            **EDITS,
            "eq12": {**EQ12_EDITS, "interventional_prompt": EQ12_INTERVENTIONAL_PROMPT},
            "baseline_target_prompt": BASELINE_TARGET,
            "baseline_guidance_scale": BASELINE_SCALE,
            "image_size": list(image.size),
            "non_square_image_size": list(NON_SQUARE_SIZE),
            "time_ids_note": (
                "diffusers' invert() builds the size from (W,H) (LEDITS++ editing and the EF-DDPM inversion); "
                "the EF-DDPM/DDIM sampling loops use (H,W): the *_wide families show the difference"
            ),
        },
        "versions": {n: version(n) for n in ("torch", "diffusers", "transformers", "tokenizers", "numpy")},
        "tensors": trace.index,
    }
    (out / "index.json").write_text(json.dumps(index, indent=2) + "\n")
    return index
