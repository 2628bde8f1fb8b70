"""Torch references for the ONNX parity tests: fixed inputs and outputs per graph, saved as .npy.

The vitest suite runs the ONNX graphs with onnxruntime-node on these inputs and compares; `check_with_ort`
does the same with Python onnxruntime and writes verify.json. The attention reference is computed
independently of the export's recording processor: forward hooks on the stock diffusers attn2 modules and
diffusers' own `get_attention_scores`, reduced to the mean over layers of per-layer head means.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .attention import recorded_layer_names

PROMPTS = ["a photo of a cat", "a red car on a street, oil painting", ""]


def _save(d: Path, name: str, t) -> str:
    arr = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
    arr = arr.astype(np.int64) if arr.dtype.kind in "iu" else arr.astype(np.float32)
    np.save(d / f"{name}.npy", arr)
    return f"{name}.npy"


def _ids(tok) -> torch.Tensor:
    return tok(PROMPTS, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids


def _attention_reference(unet, layer_names, call) -> torch.Tensor:
    captured: dict[str, tuple] = {}
    modules = dict(unet.named_modules())
    hooks = [
        modules[n].register_forward_hook(
            lambda m, a, kw, out, n=n: captured.__setitem__(n, (m, a, kw)), with_kwargs=True
        )
        for n in layer_names
    ]
    try:
        noise_pred = call()
    finally:
        for h in hooks:
            h.remove()
    per_layer = []
    for n in layer_names:
        attn, args, kwargs = captured[n]
        hidden = args[0] if args else kwargs["hidden_states"]
        enc = kwargs.get("encoder_hidden_states")
        b = hidden.shape[0]
        q = attn.head_to_batch_dim(attn.to_q(hidden))
        k = attn.head_to_batch_dim(attn.to_k(enc))
        probs = attn.get_attention_scores(q, k, None)  # (B*heads, Q, 77), batch-major
        per_layer.append(probs.view(b, attn.heads, *probs.shape[1:]).mean(dim=1))
    return noise_pred, torch.stack(per_layer).mean(dim=0)


def _unet_call(unet, feeds: dict):
    """The stock UNet on the graph's named inputs (the export's wrapper takes the same five)."""

    def call():
        added = {"text_embeds": feeds["text_embeds"], "time_ids": feeds["time_ids"]}
        return unet(
            feeds["sample"],
            feeds["timestep"],
            encoder_hidden_states=feeds["encoder_hidden_states"],
            added_cond_kwargs=added,
            return_dict=False,
        )[0]

    return call


@torch.no_grad()
def make_references(parts: dict, out_dir: Path, image_hw: tuple[int, int]) -> dict:
    """Runs the stock torch modules on fixed inputs; must be called before export wraps the UNet."""
    out_dir.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(7)
    H, W = image_hw
    te1, te2, unet, vae = (parts[k] for k in ("text_encoder", "text_encoder_2", "unet", "vae"))
    vae_scale = 2 ** (len(vae.config.block_out_channels) - 1)
    h, w = H // vae_scale, W // vae_scale
    index: dict[str, dict] = {}

    ids1, ids2 = _ids(parts["tokenizer"]), _ids(parts["tokenizer_2"])
    o1 = te1(ids1, output_hidden_states=True)
    o2 = te2(ids2, output_hidden_states=True)
    index["text_encoder"] = {
        "inputs": {"input_ids": _save(out_dir, "te1_input_ids", ids1)},
        "outputs": {"hidden_states": _save(out_dir, "te1_hidden_states", o1.hidden_states[-2])},
    }
    index["text_encoder_2"] = {
        "inputs": {"input_ids": _save(out_dir, "te2_input_ids", ids2)},
        "outputs": {
            "hidden_states": _save(out_dir, "te2_hidden_states", o2.hidden_states[-2]),
            "text_embeds": _save(out_dir, "te2_text_embeds", o2.text_embeds),
        },
    }

    b = 3  # differs from the export batch (2): exercises the dynamic batch axis
    d = te1.config.hidden_size + te2.config.hidden_size
    feeds = {
        "sample": torch.randn(b, 4, h, w, generator=g),
        "timestep": torch.tensor([821.0, 500.0, 42.0]),
        "encoder_hidden_states": torch.randn(b, 77, d, generator=g),
        "text_embeds": torch.randn(b, te2.config.projection_dim, generator=g),
        "time_ids": torch.tensor([[H, W, 0, 0, H, W]] * b, dtype=torch.float32),
    }
    layers = recorded_layer_names(unet, (h, w))
    noise_pred, xattn = _attention_reference(unet, layers, _unet_call(unet, feeds))
    index["unet"] = {
        "inputs": {k: _save(out_dir, f"unet_{k}", v) for k, v in feeds.items()},
        "outputs": {
            "noise_pred": _save(out_dir, "unet_noise_pred", noise_pred),
            "xattn_mean": _save(out_dir, "unet_xattn_mean", xattn),
        },
    }

    image = torch.rand(2, 3, H, W, generator=g) * 2 - 1
    mean = vae.encode(image).latent_dist.mean
    index["vae_encoder"] = {
        "inputs": {"image": _save(out_dir, "vae_image", image)},
        "outputs": {"latent_mean": _save(out_dir, "vae_latent_mean", mean)},
    }
    latent = torch.randn(2, 4, h, w, generator=g)
    index["vae_decoder"] = {
        "inputs": {"latent_sample": _save(out_dir, "vae_latent_sample", latent)},
        "outputs": {"image": _save(out_dir, "vae_decoded", vae.decode(latent).sample)},
    }
    _non_square_references(index, out_dir, g, unet, vae, feeds, layers, (h, w))
    (out_dir / "index.json").write_text(json.dumps(index, indent=2) + "\n")
    return index


def _non_square_references(index, out_dir: Path, g, unet, vae, feeds, layers, latent_hw) -> None:
    """UNet and VAE at a 3:4 size other than the export's: the graphs' spatial axes are dynamic.

    Entries name their graph (`graph`), so both checks run that graph on these inputs."""
    h, w = latent_hw
    hh = h * 3 // 4 // 4 * 4  # latent sides stay multiples of 4 (image multiples of 32)
    vae_scale = 2 ** (len(vae.config.block_out_channels) - 1)
    b = feeds["sample"].shape[0]
    wide = {
        **feeds,
        "sample": torch.randn(b, 4, hh, w, generator=g),
        "time_ids": torch.tensor(
            [[hh * vae_scale, w * vae_scale, 0, 0, hh * vae_scale, w * vae_scale]] * b, dtype=torch.float32
        ),
    }
    noise_pred, xattn = _attention_reference(unet, layers, _unet_call(unet, wide))
    index["unet_non_square"] = {
        "graph": "unet",
        "inputs": {k: _save(out_dir, f"unet_ns_{k}", v) for k, v in wide.items()},
        "outputs": {
            "noise_pred": _save(out_dir, "unet_ns_noise_pred", noise_pred),
            "xattn_mean": _save(out_dir, "unet_ns_xattn_mean", xattn),
        },
    }
    image = torch.rand(1, 3, hh * vae_scale, w * vae_scale, generator=g) * 2 - 1
    index["vae_encoder_non_square"] = {
        "graph": "vae_encoder",
        "inputs": {"image": _save(out_dir, "vae_ns_image", image)},
        "outputs": {"latent_mean": _save(out_dir, "vae_ns_latent_mean", vae.encode(image).latent_dist.mean)},
    }
    latent = torch.randn(1, 4, hh, w, generator=g)
    index["vae_decoder_non_square"] = {
        "graph": "vae_decoder",
        "inputs": {"latent_sample": _save(out_dir, "vae_ns_latent_sample", latent)},
        "outputs": {"image": _save(out_dir, "vae_ns_decoded", vae.decode(latent).sample)},
    }


def check_with_ort(bundle_dir: Path, ref_dir: Path) -> dict:
    """Max abs error ONNX (Python onnxruntime, CPU) vs torch per output; written to ref_dir/verify.json."""
    import onnxruntime as ort

    index = json.loads((ref_dir / "index.json").read_text())
    report: dict[str, dict] = {}
    for graph, spec in index.items():
        path = bundle_dir / spec.get("graph", graph) / "model.onnx"
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feeds = {k: np.load(ref_dir / f) for k, f in spec["inputs"].items()}
        names = list(spec["outputs"])
        got = dict(zip(names, sess.run(names, feeds), strict=True))
        report[graph] = {n: float(np.abs(got[n] - np.load(ref_dir / f)).max()) for n, f in spec["outputs"].items()}
    unet = ort.InferenceSession(str(bundle_dir / "unet" / "model.onnx"), providers=["CPUExecutionProvider"])
    feeds = {k: np.load(ref_dir / f) for k, f in index["unet"]["inputs"].items()}
    xattn = unet.run(["xattn_mean"], feeds)[0]
    report["xattn_row_sum_max_dev"] = float(np.abs(xattn.sum(-1) - 1).max())
    (ref_dir / "verify.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
