"""CLI: python -m cgm_export (called by `cgm export-models`).

--model ID --out DIR [--fp16] [--height 1024 --width 1024]   real SDXL → bundle in DIR
--tiny --out DIR [--lpips [--random-backbone]] [--traces]     tiny model → DIR/{diffusers,bundle,verify,lpips,traces}
--lpips --out DIR [--random-backbone]                         LPIPS-VGG only → DIR
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def _log(msg: str) -> None:
    print(f"[cgm-export] {msg}", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cgm_export")
    p.add_argument("--model", help="diffusers SDXL folder or hub id")
    p.add_argument("--tiny", action="store_true", help="build and export the seeded tiny SDXL-shaped model")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--fp16", action="store_true", help="fp16 inside UNet and text encoders (fp32 I/O; VAE stays fp32)")
    p.add_argument("--height", type=int, default=1024)
    p.add_argument("--width", type=int, default=1024)
    p.add_argument("--lpips", action="store_true", help="also export LPIPS-VGG")
    p.add_argument(
        "--random-backbone", action="store_true", help="LPIPS: seeded VGG16 weights instead of torchvision's (offline)"
    )
    p.add_argument(
        "--vgg-weights", type=Path, help="LPIPS: torchvision vgg16 state dict (.pth) with the ImageNet weights"
    )
    p.add_argument(
        "--lpips-size", type=int, default=1024, help="LPIPS: export/reference resolution (graph has dynamic H, W)"
    )
    p.add_argument("--traces", action="store_true", help="tiny only: write diffusers reference traces")
    a = p.parse_args(argv)
    if bool(a.model) == a.tiny and not (a.lpips and not a.model and not a.tiny):
        p.error("give exactly one of --model or --tiny (or only --lpips)")

    import torch
    from diffusers.utils import logging as dlog
    from transformers.utils import logging as tlog

    dlog.disable_progress_bar()
    tlog.disable_progress_bar()
    dlog.set_verbosity_error()
    tlog.set_verbosity_error()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    t0 = time.time()
    out: Path = a.out
    out.mkdir(parents=True, exist_ok=True)

    if a.model:
        from .sdxl import export_bundle, load_components

        _log(f"loading {a.model}")
        parts = load_components(a.model)
        export_bundle(parts, out, image_hw=(a.height, a.width), fp16=a.fp16, source=a.model)
        _log(f"bundle written to {out}")
    elif a.tiny:
        from .sdxl import export_bundle, load_components
        from .tiny import IMAGE_SIZE, save_tiny_diffusers
        from .verify import check_with_ort, make_references

        folder = save_tiny_diffusers(out / "diffusers")
        _log(f"tiny diffusers folder: {folder} ({time.time() - t0:.1f}s)")
        parts = load_components(str(folder))
        make_references(parts, out / "verify", (IMAGE_SIZE, IMAGE_SIZE))
        export_bundle(
            parts,
            out / "bundle",
            image_hw=(IMAGE_SIZE, IMAGE_SIZE),
            fp16=a.fp16,
            source="tiny-sdxl (seeded, cgm_export.tiny)",
        )
        report = check_with_ort(out / "bundle", out / "verify")
        _log(f"bundle + parity check ({time.time() - t0:.1f}s): {json.dumps(report)}")
        if a.traces:
            from .traces import write_traces

            write_traces(folder, out / "traces")
            _log(f"traces written ({time.time() - t0:.1f}s)")
    if a.lpips:
        from .lpips_vgg import export_lpips

        lp_dir = out / "lpips" if (a.tiny or a.model) else out
        export_lpips(
            lp_dir, random_backbone=a.random_backbone, vgg_weights=a.vgg_weights, size=128 if a.tiny else a.lpips_size
        )
        if a.random_backbone:
            import subprocess

            # separate process: the check installs stand-in modules for torchvision that must not leak here
            subprocess.run(
                [sys.executable, "-m", "cgm_export.lpips_check", str(lp_dir / "crosscheck.json")], check=True
            )
        _log(f"lpips written ({time.time() - t0:.1f}s)")
    _log(f"done in {time.time() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
