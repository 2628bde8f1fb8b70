"""The world model's parts, in SDXL's architecture: the tiny model's two CLIP text encoders (real BPE tokenizer,
frozen at their seeded random weights), an AutoencoderKL with 8× downscale, and a 3-level text_time UNet
with cross-attention at latent/2 and latent/4, widths set by the training config."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "gpu-worker" / "export"))
from cgm_export.tiny import TE_DIM, TIME_DIM, build_tiny_components  # noqa: E402
from cgm_export.tokenizer import build_tokenizers  # noqa: E402

IMAGE_SIZE = 128


def build_vae(widths: tuple[int, ...], seed: int) -> AutoencoderKL:
    torch.manual_seed(seed)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=tuple(widths),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=IMAGE_SIZE,
        scaling_factor=1.0,  # set from the trained latents' spread before the UNet trains
        force_upcast=True,
    )


def build_unet(widths: tuple[int, ...], heads: tuple[int, ...], seed: int) -> UNet2DConditionModel:
    torch.manual_seed(seed)
    return UNet2DConditionModel(
        sample_size=IMAGE_SIZE // 8,
        in_channels=4,
        out_channels=4,
        layers_per_block=2,
        block_out_channels=tuple(widths),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=tuple(heads),  # SDXL convention: head counts
        transformer_layers_per_block=(1, 1, 2),
        cross_attention_dim=2 * TE_DIM,
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=TIME_DIM,
        projection_class_embeddings_input_dim=6 * TIME_DIM + TE_DIM,
        norm_num_groups=32,
    )


def text_parts(tokenizer_root: Path) -> dict:
    """The tiny model's frozen text encoders and scheduler, with tokenizers written under tokenizer_root."""
    from transformers import CLIPTokenizer

    build_tokenizers(tokenizer_root)
    parts = build_tiny_components()
    return {
        "text_encoder": parts["text_encoder"].requires_grad_(False),
        "text_encoder_2": parts["text_encoder_2"].requires_grad_(False),
        "scheduler": parts["scheduler"],
        "tokenizer": CLIPTokenizer.from_pretrained(str(tokenizer_root / "tokenizer")),
        "tokenizer_2": CLIPTokenizer.from_pretrained(str(tokenizer_root / "tokenizer_2")),
    }


@torch.no_grad()
def encode_prompts(parts: dict, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """SDXL's conditioning: penultimate hidden states of both encoders, concatenated, and TE2's pooled
    projection; empty prompts become zeros (force_zeros_for_empty_prompt), as at inference."""
    embeds = []
    pooled = None
    for tok, te in ((parts["tokenizer"], parts["text_encoder"]), (parts["tokenizer_2"], parts["text_encoder_2"])):
        ids = tok(prompts, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
        out = te(ids, output_hidden_states=True)
        embeds.append(out.hidden_states[-2])
        if te is parts["text_encoder_2"]:
            pooled = out.text_embeds
    e = torch.cat(embeds, dim=-1)
    empty = torch.tensor([p == "" for p in prompts])
    e[empty] = 0
    pooled[empty] = 0
    return e, pooled


def time_ids(batch: int) -> torch.Tensor:
    # (original H, W, crop top, left, target H, W), as the SDXL pipeline builds them for 128² generation.
    return torch.tensor([[IMAGE_SIZE, IMAGE_SIZE, 0, 0, IMAGE_SIZE, IMAGE_SIZE]], dtype=torch.float32).repeat(batch, 1)
