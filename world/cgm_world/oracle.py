"""The oracle: a small CNN that reads every attribute of the world off a 128² image (one softmax head per attribute).

Trained on renders and on their VAE reconstructions, so it reads generated images the way it reads renders.
Exported to ONNX (input `image`: N×3×128×128 in [0, 1]; output `logits`: N×ΣK, attributes in scm.json order)
and run from TypeScript with onnxruntime-node."""

from __future__ import annotations

import torch
from torch import nn


class Oracle(nn.Module):
    def __init__(self, value_counts: list[int]):
        super().__init__()
        self.value_counts = list(value_counts)

        def block(i, o):
            return nn.Sequential(nn.Conv2d(i, o, 3, stride=2, padding=1), nn.BatchNorm2d(o), nn.ReLU())

        self.features = nn.Sequential(block(3, 24), block(24, 48), block(48, 64), block(64, 64))  # → 8×8
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(64 * 8 * 8, 128), nn.ReLU(), nn.Linear(128, sum(value_counts)))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(image * 2 - 1))

    def split(self, logits: torch.Tensor) -> list[torch.Tensor]:
        return list(torch.split(logits, self.value_counts, dim=1))
