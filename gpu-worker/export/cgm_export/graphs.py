"""torch modules with the bundle's graph I/O (docs/algorithm.md §5.1). Each wrapper has tensor-only inputs and outputs."""

from __future__ import annotations

from torch import nn


class TextEncoderGraph(nn.Module):
    """CLIP text encoder → hidden_states[-2] (and, with projection, the pooled text_embeds)."""

    def __init__(self, encoder: nn.Module, with_pooled: bool):
        super().__init__()
        self.encoder = encoder
        self.with_pooled = with_pooled

    def forward(self, input_ids):
        out = self.encoder(input_ids, output_hidden_states=True, return_dict=True)
        hidden = out.hidden_states[-2].float()
        if self.with_pooled:
            return hidden, out.text_embeds.float()
        return hidden


class VaeEncoderGraph(nn.Module):
    """Image in [-1,1] → mean of the latent Gaussian (unscaled; multiply by scaling_factor for x0)."""

    def __init__(self, vae: nn.Module):
        super().__init__()
        self.vae = vae

    def forward(self, image):
        return self.vae.encode(image, return_dict=False)[0].mean


class VaeDecoderGraph(nn.Module):
    """Unscaled latent (x / scaling_factor) → image in [-1,1] (not clamped)."""

    def __init__(self, vae: nn.Module):
        super().__init__()
        self.vae = vae

    def forward(self, latent_sample):
        return self.vae.decode(latent_sample, return_dict=False)[0]
