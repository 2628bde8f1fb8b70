"""cgm-model.json: what the TypeScript engine needs to load and drive a bundle.

zod schema: gpu-worker/engine/bundle-manifest.ts."""

from __future__ import annotations

import hashlib
import json
import math
import platform
from importlib.metadata import version
from pathlib import Path

import onnx

from .onnx_io import OPSET, describe

FORMAT = "cgm-model/1"
GRAPHS = ("text_encoder", "text_encoder_2", "unet", "vae_encoder", "vae_decoder")
VAE_GRAPHS = ("vae_encoder", "vae_decoder")  # always fp32: the SDXL VAE overflows in fp16 (docs/algorithm.md §3.4)


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


def weight_precision(path: Path) -> str:
    """Returns "fp16" when most float weight bytes of the graph are fp16, else "fp32". Reads only the tensor
    headers, so external data is never loaded."""
    model = onnx.load(str(path), load_external_data=False)
    item_bytes = {onnx.TensorProto.FLOAT: 4, onnx.TensorProto.FLOAT16: 2}
    size = dict.fromkeys(item_bytes, 0)
    for t in model.graph.initializer:
        if t.data_type in size:
            size[t.data_type] += math.prod(t.dims) * item_bytes[t.data_type]
    return "fp16" if size[onnx.TensorProto.FLOAT16] > size[onnx.TensorProto.FLOAT] else "fp32"


def _checked_precision(path: Path, expected: str) -> str:
    # the manifest states what is in the file, and the file must be what was asked for
    found = weight_precision(path)
    if found != expected:
        raise RuntimeError(f"{path}: weights are {found}, expected {expected}")
    return found


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
            "precision": _checked_precision(path, "fp16" if fp16 and name not in VAE_GRAPHS else "fp32"),
            "sha256": _sha256(path),
            **io,
        }
    H, W = image_hw
    h, w = latent_hw
    manifest = {
        "format": FORMAT,
        "source": source,
        # height × width: the size exported at, whose area the engine keeps for other aspect ratios; the
        # UNet and VAE graphs take any multiple of 32 (dynamicSpatial).
        "resolution": {
            "height": H,
            "width": W,
            "latentHeight": h,
            "latentWidth": w,
            "vaeScaleFactor": vae_scale,
            "dynamicSpatial": True,
        },
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
