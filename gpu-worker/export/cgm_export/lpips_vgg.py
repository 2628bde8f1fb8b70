"""LPIPS-VGG (v0.1) written in plain torch, exported to ONNX.

The `lpips` package imports torchvision, which cannot be installed beside our torch build, so the network is
rebuilt here: VGG16 `features` (conv layout of torchvision's vgg16, taps after relu1_2, relu2_2, relu3_3,
relu4_3, relu5_3), lpips' ScalingLayer, channel-unit-normalisation, squared differences, the five 1×1
linear heads and spatial means. The linear-head weights are read from the file the lpips wheel ships
(lpips/weights/v0.1/vgg.pth) without importing lpips. The VGG16 ImageNet weights need internet; pass a
torchvision vgg16 state dict with --vgg-weights, or use --random-backbone (seeded) for offline tests.
Input: two images in [-1, 1], [B,3,H,W] (lpips' normalize=False convention). Output: distance [B].
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .onnx_io import describe, export_graph

VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]
TAPS = (3, 8, 15, 22, 29)  # indices in vgg16.features of relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
CHANNELS = (64, 128, 256, 512, 512)
SEED = 1337


def vgg16_features() -> nn.Sequential:
    layers: list[nn.Module] = []
    c_in = 3
    for v in VGG16_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(c_in, v, kernel_size=3, padding=1), nn.ReLU(inplace=False)]
            c_in = v
    return nn.Sequential(*layers)  # 30 modules, same indices as torchvision's vgg16().features[:30]


def lpips_head_weights() -> Path:
    spec = importlib.util.find_spec("lpips")  # locate only: importing lpips would import torchvision
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the lpips package (for its linear-head weights) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "weights" / "v0.1" / "vgg.pth"


class LpipsVgg(nn.Module):
    def __init__(self, features: nn.Sequential):
        super().__init__()
        self.features = features
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1))
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, kernel_size=1, bias=False) for c in CHANNELS)

    def _taps(self, x):
        x = (x - self.shift) / self.scale
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in TAPS:
                out.append(x)
        return out

    def forward(self, image0, image1):
        total = 0
        for lin, f0, f1 in zip(self.lins, self._taps(image0), self._taps(image1), strict=True):
            n0 = f0 / (torch.sqrt(torch.sum(f0**2, dim=1, keepdim=True)) + 1e-10)
            n1 = f1 / (torch.sqrt(torch.sum(f1**2, dim=1, keepdim=True)) + 1e-10)
            total = total + lin((n0 - n1) ** 2).mean(dim=(2, 3), keepdim=True)
        return total.flatten()


def build_lpips(random_backbone: bool, vgg_weights: Path | None = None) -> LpipsVgg:
    torch.manual_seed(SEED)
    features = vgg16_features()
    if vgg_weights is not None:
        sd = torch.load(str(vgg_weights), map_location="cpu", weights_only=True)
        sd = {k.removeprefix("features."): v for k, v in sd.items() if k.startswith("features.")}
        features.load_state_dict(sd)
    elif not random_backbone:
        raise RuntimeError(
            "VGG16 ImageNet weights need internet: pass --vgg-weights FILE "
            "(torchvision vgg16 state dict) or --random-backbone"
        )
    model = LpipsVgg(features)
    heads = torch.load(str(lpips_head_weights()), map_location="cpu", weights_only=True)
    for i, lin in enumerate(model.lins):
        lin.weight.data.copy_(heads[f"lin{i}.model.1.weight"])
    return model.eval()


@torch.no_grad()
def export_lpips(out_dir: Path, *, random_backbone: bool, vgg_weights: Path | None = None, size: int = 128) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    model = build_lpips(random_backbone, vgg_weights)
    g = torch.Generator().manual_seed(SEED)
    a = torch.rand(2, 3, size, size, generator=g) * 2 - 1
    b = (a + 0.3 * torch.randn(2, 3, size, size, generator=g)).clamp(-1, 1)
    axes = {0: "batch", 2: "height", 3: "width"}
    export_graph(
        model,
        (a, b),
        out_dir / "model.onnx",
        ["image0", "image1"],
        ["distance"],
        {"image0": axes, "image1": axes, "distance": {0: "batch"}},
    )
    ref = out_dir / "reference"
    ref.mkdir(exist_ok=True)
    for name, t in (("image0", a), ("image1", b), ("distance", model(a, b)), ("distance_same", model(a, a))):
        np.save(ref / f"{name}.npy", t.numpy().astype(np.float32))
    manifest = {
        "format": "cgm-lpips/1",
        "network": "vgg16",
        "version": "0.1",
        "backbone": "random (seeded, NOT ImageNet: for offline tests only)"
        if random_backbone and vgg_weights is None
        else "imagenet (torchvision vgg16)",
        "linearHeads": "lpips 0.1.4 weights/v0.1/vgg.pth",
        "file": "model.onnx",
        "inputRange": [-1, 1],
        "resolution": {"height": size, "width": size, "dynamicSpatial": True},
        **describe(out_dir / "model.onnx"),
    }
    (out_dir / "cgm-lpips.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
