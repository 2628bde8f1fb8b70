"""A tiny, seeded model with the SDXL architecture (docs/algorithm.md §6), saved as a diffusers folder.

UNet: 3 levels (DownBlock2D, CrossAttnDownBlock2D, CrossAttnDownBlock2D) with cross-attention at latent/4,
like SDXL's 32×32 level at 1024². VAE: 4 blocks, so the downscale is 8 as in SDXL; 128×128 images give
16×16 latents and a 4×4 attention grid. Text encoders: CLIP with the real 49408-token BPE vocabulary but
32-wide embeddings. Weights are random (seeded), so images are noise: this model checks plumbing and numerics.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import AutoencoderKL, DPMSolverMultistepScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

from .tokenizer import VOCAB_SIZE, build_tokenizers

SEED = 20261128
IMAGE_SIZE = 128  # pixels; latent 16×16
TE_DIM = 32  # hidden size of each text encoder; cross_attention_dim = 2 × TE_DIM
TIME_DIM = 8  # addition_time_embed_dim


def _text_config(projection: bool) -> CLIPTextConfig:
    return CLIPTextConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=TE_DIM,
        intermediate_size=37,
        num_hidden_layers=3,
        num_attention_heads=4,
        max_position_embeddings=77,
        projection_dim=TE_DIM if projection else 512,
        hidden_act="gelu",
        bos_token_id=49406,
        eos_token_id=49407,  # not 2: pooling picks the first EOS position, as for real CLIP configs
        pad_token_id=49407 if not projection else 0,
    )


def build_tiny_components() -> dict:
    torch.manual_seed(SEED)
    unet = UNet2DConditionModel(
        sample_size=IMAGE_SIZE // 8,
        in_channels=4,
        out_channels=4,
        layers_per_block=2,
        block_out_channels=(32, 64, 64),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4, 4),  # SDXL convention: these are head counts
        transformer_layers_per_block=(1, 1, 2),
        cross_attention_dim=2 * TE_DIM,
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=TIME_DIM,
        projection_class_embeddings_input_dim=6 * TIME_DIM + TE_DIM,
        norm_num_groups=32,
    )
    torch.manual_seed(SEED + 1)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(16, 16, 32, 32),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=IMAGE_SIZE,
        scaling_factor=0.13025,
        force_upcast=True,
    )
    torch.manual_seed(SEED + 2)
    te1 = CLIPTextModel(_text_config(projection=False))
    torch.manual_seed(SEED + 3)
    te2 = CLIPTextModelWithProjection(_text_config(projection=True))
    scheduler = DPMSolverMultistepScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        steps_offset=1,
        timestep_spacing="leading",
        prediction_type="epsilon",
        algorithm_type="sde-dpmsolver++",
        solver_order=2,
    )
    return {
        "unet": unet.eval(),
        "vae": vae.eval(),
        "text_encoder": te1.eval(),
        "text_encoder_2": te2.eval(),
        "scheduler": scheduler,
    }


def save_tiny_diffusers(out_dir: Path) -> Path:
    """Builds the tiny model and saves it as a diffusers StableDiffusionXLPipeline folder."""
    out_dir.mkdir(parents=True, exist_ok=True)
    build_tokenizers(out_dir)
    parts = build_tiny_components()
    pipe = StableDiffusionXLPipeline(
        tokenizer=CLIPTokenizer.from_pretrained(str(out_dir / "tokenizer")),
        tokenizer_2=CLIPTokenizer.from_pretrained(str(out_dir / "tokenizer_2")),
        force_zeros_for_empty_prompt=True,
        **parts,
    )
    pipe.save_pretrained(str(out_dir), safe_serialization=True)
    return out_dir
