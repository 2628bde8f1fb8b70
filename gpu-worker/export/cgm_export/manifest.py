"""cgm-model.json: what the TypeScript engine needs to load and drive a bundle.

zod schema: gpu-worker/engine/bundle-manifest.ts."""

from __future__ import annotations

import hashlib
import json
import math
import platform
from importlib.metadata import version
from pathlib import Path

from .onnx_io import OPSET, describe

FORMAT = "cgm-model/1"
GRAPHS = ("text_encoder", "text_encoder_2", "unet", "vae_encoder", "vae_decoder")


def tool_versions() -> dict:
    names = ("torch", "diffusers", "transformers", "tokenizers", "onnx", "onnxruntime", "numpy")
    out = {n: version(n) for n in names}
    out["python"] = platform.python_version()
    return out


def _json_safe(value):
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no inf/nan: "-inf", "inf", "nan"
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(
    out_dir: Path,
    *,
    source,
    fp16,
    image_hw,
    latent_hw,
    vae_scale,
    scaling_factor,
    scheduler_config,
    attention_layers,
    dims,
) -> dict:
    graphs = {}
    for name in GRAPHS:
        path = out_dir / name / "model.onnx"
        io = describe(path)
        data = path.with_name("model.onnx_data")
        graphs[name] = {
            "file": f"{name}/model.onnx",
            "externalData": f"{name}/model.onnx_data" if data.exists() else None,
            "precision": "fp16" if fp16 and name not in ("vae_encoder", "vae_decoder") else "fp32",
            "sha256": _sha256(path),
            **io,
        }
    H, W = image_hw
    h, w = latent_hw
    manifest = {
        "format": FORMAT,
        "source": source,
        "resolution": {"height": H, "width": W, "latentHeight": h, "latentWidth": w, "vaeScaleFactor": vae_scale},
        "vae": {"scalingFactor": scaling_factor, "encoderOutput": "mean", "imageRange": [-1, 1]},
        "textEncoders": {
            "maxLength": 77,
            "te1Dim": dims["te1"],
            "te2Dim": dims["te2"],
            "pooledDim": dims["pooled"],
            "hiddenStateLayer": -2,
        },
        "tokenizers": {"tokenizer": "tokenizer/tokenizer.json", "tokenizer_2": "tokenizer_2/tokenizer.json"},
        "timestep": {"dtype": "float32", "shape": ["batch"]},
        "attention": {
            "output": "xattn_mean",
            "gridHeight": h // 4,
            "gridWidth": w // 4,
            "tokens": 77,
            "reduction": "mean over heads, then mean over layers, of softmax(QK^T*scale), fp32",
            "layers": attention_layers,
        },
        "graphs": graphs,
        "scheduler": _json_safe(scheduler_config),
        "opset": OPSET,
        "tools": tool_versions(),
    }
    (out_dir / "cgm-model.json").write_text(json.dumps(manifest, indent=2, allow_nan=False) + "\n")
    return manifest
