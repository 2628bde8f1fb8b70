"""Cross-attention probabilities as a second UNet output (docs/algorithm.md §2.4, §5.1).

LEDITS++ records `attn2` of down_blocks.* and up_blocks.* (not mid_block) whose query length is at most
(h/4)(w/4), i.e. the latent/4 level. For those layers we swap in a processor that computes
softmax(QKᵀ·scale) explicitly (fp32), uses it for the output, and keeps its mean over heads. The wrapper
returns the mean over layers of those head means: shape (B, (h/4)(w/4), 77). Every recorded layer has the
same head count, so this equals the flat mean over all (layer, head) maps that diffusers takes.
"""

from __future__ import annotations

import torch
from torch import nn


def recorded_layer_names(unet: nn.Module, latent_hw: tuple[int, int]) -> list[str]:
    """Names of the attn2 modules LEDITS++ records at this latent size, in module order."""
    h, w = latent_hw
    max_q = (h // 4) * (w // 4)
    names = []
    for name, _ in unet.attn_processors.items():
        if not name.endswith("attn2.processor") or name.startswith("mid_block"):
            continue
        if _query_len(name, h, w) <= max_q:
            names.append(name.removesuffix(".processor"))
    return names


def _query_len(name: str, h: int, w: int) -> int:
    # down_blocks.i runs at latent / 2^i; up_blocks.i at latent / 2^(levels-1-i) (the SDXL layout).
    parts = name.split(".")
    level = int(parts[1])
    if parts[0] == "up_blocks":
        level = 2 - level  # 3-level UNets only (SDXL and the tiny model)
    return (h >> level) * (w >> level)


class RecordingCrossAttnProcessor:
    """Plain (unfused) attention that appends the per-layer head-mean of its probabilities to `store`."""

    def __init__(self, store: list[torch.Tensor]):
        self.store = store

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **_):
        if encoder_hidden_states is None:
            raise ValueError("recording processor is for cross-attention only")
        b, q_len, _ = hidden_states.shape
        heads = attn.heads
        q = attn.to_q(hidden_states)
        k = attn.to_k(encoder_hidden_states)
        v = attn.to_v(encoder_hidden_states)
        d = q.shape[-1] // heads
        q = q.view(b, -1, heads, d).transpose(1, 2)  # (B, heads, Q, d)
        k = k.view(b, -1, heads, d).transpose(1, 2)
        v = v.view(b, -1, heads, d).transpose(1, 2)
        scores = torch.matmul(q.float(), k.float().transpose(-1, -2)) * attn.scale
        probs = scores.softmax(dim=-1)  # (B, heads, Q, 77), fp32
        self.store.append(probs.mean(dim=1))
        out = torch.matmul(probs.to(v.dtype), v).transpose(1, 2).reshape(b, q_len, heads * d)
        out = attn.to_out[0](out)
        out = attn.to_out[1](out)
        if attn.residual_connection:
            raise ValueError("unexpected residual_connection in attn2")
        return out / attn.rescale_output_factor


class UNetWithCrossAttention(nn.Module):
    """UNet wrapper with graph-friendly inputs and outputs (noise_pred, xattn_mean)."""

    def __init__(self, unet: nn.Module, latent_hw: tuple[int, int]):
        super().__init__()
        self.unet = unet
        self.layers = recorded_layer_names(unet, latent_hw)
        if not self.layers:
            raise ValueError(f"no cross-attention layer at latent/4 for latent size {latent_hw}")
        self._store: list[torch.Tensor] = []
        processors = dict(unet.attn_processors)
        for name in self.layers:
            processors[name + ".processor"] = RecordingCrossAttnProcessor(self._store)
        unet.set_attn_processor(processors)

    def forward(self, sample, timestep, encoder_hidden_states, text_embeds, time_ids):
        self._store.clear()
        noise_pred = self.unet(
            sample,
            timestep,
            encoder_hidden_states=encoder_hidden_states,
            added_cond_kwargs={"text_embeds": text_embeds, "time_ids": time_ids},
            return_dict=False,
        )[0]
        if len(self._store) != len(self.layers):
            raise RuntimeError(f"recorded {len(self._store)} maps, expected {len(self.layers)}")
        xattn = torch.stack(self._store, dim=0).mean(dim=0)
        self._store.clear()
        return noise_pred.float(), xattn.float()
