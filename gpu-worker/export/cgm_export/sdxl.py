"""SDXL (or tiny SDXL-shaped) diffusers components → ONNX model bundle + cgm-model.json."""

from __future__ import annotations

from pathlib import Path

import torch

from .attention import UNetWithCrossAttention
from .graphs import TextEncoderGraph, VaeDecoderGraph, VaeEncoderGraph
from .manifest import write_manifest
from .onnx_io import export_graph

MAX_TOKENS = 77
BATCH = {0: "batch"}
# UNet and VAE take any image size whose sides are multiples of 32 (docs/algorithm.md §1.1): SDXL was
# trained on aspect-ratio buckets, and diffusers' LEDITS++ inverts an image at its own size.
IMAGE = {0: "batch", 2: "height", 3: "width"}
LATENT = {0: "batch", 2: "latent_height", 3: "latent_width"}


def load_components(model: str) -> dict:
    """Loads a diffusers SDXL folder or hub id (hub ids need network access and an accepted licence)."""
    from diffusers import StableDiffusionXLPipeline

    pipe = StableDiffusionXLPipeline.from_pretrained(model, torch_dtype=torch.float32)
    return {
        k: getattr(pipe, k)
        for k in ("unet", "vae", "text_encoder", "text_encoder_2", "scheduler", "tokenizer", "tokenizer_2")
    }


def export_bundle(
    parts: dict,
    out_dir: Path,
    *,
    image_hw: tuple[int, int],
    fp16: bool,
    source: str,
    tokenizer_dirs: tuple[Path, Path] | None = None,
) -> dict:
    """Exports every graph of the bundle and writes the manifest; returns the manifest dict."""
    out_dir.mkdir(parents=True, exist_ok=True)
    H, W = image_hw
    if H % 32 or W % 32:
        raise ValueError("image height and width must be multiples of 32 (docs/algorithm.md §1.1)")
    vae_scale = 2 ** (len(parts["vae"].config.block_out_channels) - 1)
    h, w = H // vae_scale, W // vae_scale
    te1, te2, unet, vae = (parts[k].eval().float() for k in ("text_encoder", "text_encoder_2", "unet", "vae"))
    d1, d2 = te1.config.hidden_size, te2.config.hidden_size
    pooled = te2.config.projection_dim

    ids = torch.zeros(2, MAX_TOKENS, dtype=torch.int64)
    export_graph(
        TextEncoderGraph(te1, with_pooled=False),
        (ids,),
        out_dir / "text_encoder" / "model.onnx",
        ["input_ids"],
        ["hidden_states"],
        {"input_ids": BATCH, "hidden_states": BATCH},
        fp16=fp16,
    )
    export_graph(
        TextEncoderGraph(te2, with_pooled=True),
        (ids,),
        out_dir / "text_encoder_2" / "model.onnx",
        ["input_ids"],
        ["hidden_states", "text_embeds"],
        {"input_ids": BATCH, "hidden_states": BATCH, "text_embeds": BATCH},
        fp16=fp16,
    )

    wrapped = UNetWithCrossAttention(unet, (h, w))
    unet_args = (
        torch.randn(2, 4, h, w),
        torch.tensor([500.0, 500.0]),
        torch.randn(2, MAX_TOKENS, d1 + d2),
        torch.randn(2, pooled),
        torch.tensor([[H, W, 0, 0, H, W]] * 2, dtype=torch.float32),
    )
    unet_in = ["sample", "timestep", "encoder_hidden_states", "text_embeds", "time_ids"]
    unet_out = ["noise_pred", "xattn_mean"]
    export_graph(
        wrapped,
        unet_args,
        out_dir / "unet" / "model.onnx",
        unet_in,
        unet_out,
        {
            **{n: BATCH for n in unet_in + unet_out},
            "sample": LATENT,
            "noise_pred": LATENT,
            "xattn_mean": {0: "batch", 1: "attention_cells"},  # (latent_height/4)·(latent_width/4)
        },
        {"xattn_mean": [None, None, MAX_TOKENS]},
        fp16=fp16,
        fp32_attention_outputs=("xattn_mean",),  # LEDITS++ masks threshold these (docs/algorithm.md §2.4): no fp16 rounding
    )

    # VAE always fp32: the SDXL VAE overflows in fp16 (docs/algorithm.md §3.4)
    export_graph(
        VaeEncoderGraph(vae),
        (torch.randn(1, 3, H, W),),
        out_dir / "vae_encoder" / "model.onnx",
        ["image"],
        ["latent_mean"],
        {"image": IMAGE, "latent_mean": LATENT},
        {"latent_mean": [None, 4, None, None]},  # the tracer names the sliced channel dim symbolically
    )
    export_graph(
        VaeDecoderGraph(vae),
        (torch.randn(1, 4, h, w),),
        out_dir / "vae_decoder" / "model.onnx",
        ["latent_sample"],
        ["image"],
        {"latent_sample": LATENT, "image": IMAGE},
    )

    for sub, tok_key in (("tokenizer", "tokenizer"), ("tokenizer_2", "tokenizer_2")):
        dst = out_dir / sub
        dst.mkdir(exist_ok=True)
        parts[tok_key].save_pretrained(str(dst))  # writes tokenizer.json (Rust-backed CLIPTokenizer in transformers v5)
        if not (dst / "tokenizer.json").exists():
            raise RuntimeError(f"{sub}: no tokenizer.json written")

    return write_manifest(
        out_dir,
        source=source,
        fp16=fp16,
        image_hw=(H, W),
        latent_hw=(h, w),
        vae_scale=vae_scale,
        scaling_factor=float(vae.config.scaling_factor),
        scheduler_config=dict(parts["scheduler"].config),
        attention_layers=wrapped.layers,
        dims={"te1": d1, "te2": d2, "pooled": pooled, "time_ids": 6},
    )
