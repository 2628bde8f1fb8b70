"""What onnxruntime's transformer optimizer would do to an exported UNet: fusions, errors, call time.

Runs `onnxruntime.transformers.optimizer.optimize_model(model_type="unet", opt_level=0)` on a bundle's UNet
(only the Python fusions; ORT's own graph optimisations still run when a session loads either model),
then compares the plain and the fused graph on the same random inputs with onnxruntime on the CPU:
- node counts per op type that changed, and whether the graph outputs are unchanged;
- max relative error of every output (noise_pred and xattn_mean: the CSG masks read the cross-attention
  probabilities, so a fusion that hides them would show up here as a missing or wrong xattn_mean);
- the UNet call time ratio fused / plain (median of interleaved calls after warm-up).

`--target cpu` (default) turns off the fusions whose contrib ops have no CPU kernel (GroupNorm,
SkipGroupNorm, BiasSplitGelu, BiasAdd, NhwcConv, packed QKV/KV); `--target cuda` keeps the optimizer's
GPU defaults and runs on the CUDA provider (needs onnxruntime-gpu). Attention fusion is tried unless
`--no-attention`; when it raises, the report says so and the check is repeated without it.

Measured on CPU (2 threads), onnxruntime 1.32 with NumPy 2.4: the attention fusion raises inside ORT
(its UNet attention fusion calls int() on a one-element array, which NumPy 2 refuses; our graphs match
its patterns). With that call patched in a separate experiment, every self-attention and every
cross-attention layer the manifest does not record fuse, while the recorded layers keep their explicit
Softmax (their scale-after-QK^T form matches no ORT pattern), so xattn_mean is unchanged. Gelu and
SkipLayerNormalization fuse either way; both outputs stay within ORT's own on/off optimisation noise
(~1e-6 absolute). A UNet call on the 594M-parameter model (batch 2) takes 0.96-1.04x the time with any of
these (Conv and MatMul are ~90% of its kernel time); the tiny model's ratios are noise. Not applied at
export; the fusions that could matter on CUDA (fused attention, GroupNorm, NhwcConv) have no CPU kernels
and need a GPU to measure.

Usage: python -m cgm_export.fusion_check --unet BUNDLE/unet/model.onnx --out REPORT.json
       [--target cpu|cuda] [--batch 2] [--repeat 10] [--threads 2] [--no-attention] [--keep DIR]
Exit 0 when the fused graph keeps every output within --tolerance (default 1e-4 relative), 1 otherwise.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CPU_LESS_FUSIONS = (
    "enable_group_norm",
    "enable_skip_group_norm",
    "enable_bias_splitgelu",
    "enable_bias_add",
    "enable_nhwc_conv",
    "enable_packed_qkv",
    "enable_packed_kv",
)


def _fusion_options(target: str, attention: bool):
    from onnxruntime.transformers.fusion_options import FusionOptions

    options = FusionOptions("unet")
    if target == "cpu":
        for name in CPU_LESS_FUSIONS:
            setattr(options, name, False)
    options.enable_attention = attention
    return options


def _optimize(unet: Path, target: str, attention: bool):
    from onnxruntime.transformers.optimizer import optimize_model

    return optimize_model(
        str(unet),
        model_type="unet",
        num_heads=0,
        hidden_size=0,
        opt_level=0,
        use_gpu=target == "cuda",
        optimization_options=_fusion_options(target, attention),
    ).model


def _session(path: Path, target: str, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads
    providers = ["CUDAExecutionProvider"] if target == "cuda" else ["CPUExecutionProvider"]
    return ort.InferenceSession(str(path), opts, providers=providers)


def _feeds(model, batch: int, latent_hw: tuple[int, int]) -> dict[str, np.ndarray]:
    """Seeded inputs at the graph's shapes: symbolic latent sides at the bundle's exported size (the graphs
    are spatially dynamic), other symbolic dims = batch; SDXL time ids for that size."""
    rng = np.random.default_rng(0)
    sides = {"latent_height": latent_hw[0], "latent_width": latent_hw[1]}
    feeds = {}
    for graph_input in model.graph.input:
        dims = [
            d.dim_value if d.dim_value > 0 else sides.get(d.dim_param, batch)
            for d in graph_input.type.tensor_type.shape.dim
        ]
        feeds[graph_input.name] = rng.standard_normal(dims).astype(np.float32)
    feeds["timestep"] = np.full(feeds["timestep"].shape, 500.0, np.float32)
    h, w = (float(d * 8) for d in feeds["sample"].shape[-2:])
    feeds["time_ids"] = np.tile(np.array([[h, w, 0, 0, h, w]], np.float32), (batch, 1))
    return feeds


def _latent_size(unet_path: Path) -> tuple[int, int]:
    """The bundle's exported latent size (cgm-model.json beside the unet folder); 128 px (16) without one."""
    manifest = unet_path.parent.parent / "cgm-model.json"
    if not manifest.exists():
        return (16, 16)
    r = json.loads(manifest.read_text())["resolution"]
    return (r["latentHeight"], r["latentWidth"])


def _op_changes(before, after) -> dict[str, list[int]]:
    a = collections.Counter(n.op_type for n in before.graph.node)
    b = collections.Counter(n.op_type for n in after.graph.node)
    return {op: [a[op], b[op]] for op in sorted(set(a) | set(b)) if a[op] != b[op]}


def check(unet: Path, target: str, attention: bool, batch: int, repeat: int, threads: int, keep: Path) -> dict:
    import onnx

    plain = onnx.load(str(unet), load_external_data=False)
    report: dict = {"unet": str(unet), "target": target, "batch": batch, "threads": threads}
    try:
        fused = _optimize(unet, target, attention)
        report["attention_fusion"] = "on" if attention else "off"
    except Exception as err:  # the optimizer's pattern matchers raise on graphs they do not expect
        if not attention:
            raise
        report["attention_fusion"] = f"failed: {type(err).__name__}: {err}"
        fused = _optimize(unet, target, attention=False)
    fused_path = keep / "unet_fused.onnx"
    onnx.save(fused, str(fused_path), save_as_external_data=True, location="unet_fused.onnx_data")
    report["nodes"] = [len(plain.graph.node), len(fused.graph.node)]
    report["op_changes"] = _op_changes(plain, fused)
    outputs = [o.name for o in plain.graph.output]
    report["outputs_kept"] = outputs == [o.name for o in fused.graph.output]

    s_plain, s_fused = _session(unet, target, threads), _session(fused_path, target, threads)
    feeds = _feeds(plain, batch, _latent_size(unet))
    ref, out = s_plain.run(None, feeds), s_fused.run(None, feeds)
    report["rel_error"] = {
        name: float(np.abs(a - b).max() / max(float(np.abs(a).max()), 1e-30))
        for name, a, b in zip(outputs, ref, out, strict=True)
    }
    times: dict[str, list[float]] = {"plain": [], "fused": []}
    for _ in range(repeat + 2):
        for name, session in (("plain", s_plain), ("fused", s_fused)):
            t0 = time.perf_counter()
            session.run(None, feeds)
            times[name].append(time.perf_counter() - t0)
    plain_s, fused_s = (statistics.median(times[k][2:]) for k in ("plain", "fused"))
    report["seconds_per_call"] = {"plain": plain_s, "fused": fused_s, "ratio": fused_s / plain_s}
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cgm_export.fusion_check", description=__doc__.split("\n")[0])
    p.add_argument("--unet", type=Path, required=True, help="a bundle's unet/model.onnx")
    p.add_argument("--out", type=Path, required=True, help="where the JSON report goes")
    p.add_argument("--target", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tolerance", type=float, default=1e-4)
    p.add_argument("--no-attention", action="store_true", help="do not try the attention fusion")
    p.add_argument("--keep", type=Path, help="keep the fused graph in this folder (default: a temporary one)")
    args = p.parse_args(argv)
    if not args.unet.is_file():
        p.error(f"--unet {args.unet}: no such file (expected a bundle's unet/model.onnx)")
    if args.batch < 1 or args.repeat < 1 or args.threads < 1:
        p.error("--batch, --repeat and --threads must be at least 1")
    with tempfile.TemporaryDirectory(prefix="cgm-fusion-") as tmp:
        keep = args.keep or Path(tmp)
        keep.mkdir(parents=True, exist_ok=True)
        report = check(args.unet, args.target, not args.no_attention, args.batch, args.repeat, args.threads, keep)
    report["ok"] = report["outputs_kept"] and all(e <= args.tolerance for e in report["rel_error"].values())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
