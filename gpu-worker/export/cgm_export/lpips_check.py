"""Cross-check of our LPIPS-VGG against the lpips package's own LPIPS class (run as a separate process).

lpips imports torchvision (and scipy/skimage for its trainer) at import time. Here those imports get
stand-ins: torchvision.models.vgg16 returns *our* VGG16 features, so both sides share the backbone and the
comparison isolates everything lpips itself computes (scaling layer, normalisation, heads, averaging).
Usage: python -m cgm_export.lpips_check OUT_JSON
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import torch

from .lpips_vgg import build_lpips


def main(out: Path) -> dict:
    mine = build_lpips(random_backbone=True)
    tv = types.ModuleType("torchvision")
    tv.models = types.SimpleNamespace(vgg16=lambda pretrained=False, **_: types.SimpleNamespace(features=mine.features))
    sys.modules["torchvision"] = tv
    for name in ("scipy", "scipy.ndimage", "skimage", "skimage.metrics"):
        stub = types.ModuleType(name)
        stub.zoom = stub.structural_similarity = None
        sys.modules.setdefault(name, stub)
    import lpips

    ref = lpips.LPIPS(net="vgg", pretrained=True, pnet_rand=True, verbose=False).eval()
    g = torch.Generator().manual_seed(3)
    a = torch.rand(3, 3, 64, 64, generator=g) * 2 - 1
    b = torch.rand(3, 3, 64, 64, generator=g) * 2 - 1
    with torch.no_grad():
        diff = float((mine(a, b) - ref(a, b).flatten()).abs().max())
    report = {
        "lpips_package_version": lpips.__version__ if hasattr(lpips, "__version__") else "0.1.4",
        "max_abs_diff_vs_lpips": diff,
    }
    out.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
