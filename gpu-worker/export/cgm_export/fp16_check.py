"""An fp16 bundle against the fp32 bundle of the same model, with Python onnxruntime on the CPU.

Runs the text encoders and the UNet of both bundles on the same inputs (the torch reference inputs that
`--tiny` writes to verify/), and checks:
- every float output agrees within FP16_REL_TOL of the fp32 output's largest magnitude;
- the fp16 UNet's xattn_mean rows sum to 1 within XATTN_ROW_SUM_TOL: true when the attention
  probabilities and their means are computed in fp32 as the export promises, false in fp16;
- graph I/O is fp32 in both, the manifests state the precision, and the VAE graphs are the fp32 ones, byte for byte.
It also measures the UNet graph sizes and the UNet call time ratio (fp16 / fp32, median of interleaved calls).

Usage: python -m cgm_export.fp16_check --fp32 BUNDLE --fp16 BUNDLE --inputs VERIFY_DIR --out REPORT.json
Exit 0 when every check passes, 1 otherwise (the report lists each failure).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

# fp16 keeps 11 significant bits (unit roundoff 4.9e-4); errors add up over the ~50 layers of the tiny UNet to
# ~1.5e-3 of the output range (measured). 1e-2 leaves room for other seeds while a wrongly typed or unconverted
# node (errors of order 1) still fails.
FP16_REL_TOL = 1e-2
# Row sums of xattn_mean: ~1e-7 when softmax and means run in fp32, ~1e-5 when they run in fp16 (measured).
XATTN_ROW_SUM_TOL = 1e-6
COMPARED = ("text_encoder", "text_encoder_2", "unet")


def _session(path: Path, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _graph_bytes(bundle: Path, graph: str) -> int:
    return sum(f.stat().st_size for f in (bundle / graph).glob("model.onnx*"))


def compare_outputs(ref: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> dict[str, dict]:
    """Per output: max and mean abs difference, and the max relative to the reference's largest magnitude."""
    out = {}
    for name, r in ref.items():
        g = got[name]
        if g.shape != r.shape:
            out[name] = {"shape": list(g.shape), "expectedShape": list(r.shape), "ok": False}
            continue
        diff = np.abs(g.astype(np.float64) - r.astype(np.float64))
        scale = float(np.abs(r).max()) or 1.0
        rel = float(diff.max()) / scale
        out[name] = {
            "maxAbs": float(diff.max()),
            "meanAbs": float(diff.mean()),
            "maxRelToRange": rel,
            "finite": bool(np.isfinite(g).all()),
            "ok": bool(np.isfinite(g).all() and rel <= FP16_REL_TOL),
        }
    return out


def _time_unet(s32, s16, feeds: dict, repeats: int) -> dict:
    for s in (s32, s16):
        s.run(None, feeds)  # warm-up: first call allocates and plans
    t32, t16 = [], []
    for _ in range(repeats):  # interleaved, so load from other processes hits both alike
        for s, acc in ((s32, t32), (s16, t16)):
            t0 = time.perf_counter()
            s.run(None, feeds)
            acc.append(time.perf_counter() - t0)
    m32, m16 = statistics.median(t32), statistics.median(t16)
    return {"repeats": repeats, "medianSecondsFp32": m32, "medianSecondsFp16": m16, "ratioFp16OverFp32": m16 / m32}


def check(fp32: Path, fp16: Path, inputs: Path, *, repeats: int = 5, threads: int = 2) -> dict:
    from .onnx_io import describe

    index = json.loads((inputs / "index.json").read_text())
    m32 = json.loads((fp32 / "cgm-model.json").read_text())
    m16 = json.loads((fp16 / "cgm-model.json").read_text())
    failures: list[str] = []
    report: dict = {"tolerances": {"fp16RelToRange": FP16_REL_TOL, "xattnRowSum": XATTN_ROW_SUM_TOL}, "graphs": {}}

    for graph in COMPARED:
        if m16["graphs"][graph]["precision"] != "fp16":
            failures.append(f"{graph}: manifest precision {m16['graphs'][graph]['precision']!r}, expected 'fp16'")
        io = describe(fp16 / graph / "model.onnx")
        if io != describe(fp32 / graph / "model.onnx"):
            failures.append(f"{graph}: graph I/O differs from the fp32 bundle's: {io}")
        feeds = {k: np.load(inputs / f) for k, f in index[graph]["inputs"].items()}
        names = list(index[graph]["outputs"])
        s32, s16 = _session(fp32 / graph / "model.onnx", threads), _session(fp16 / graph / "model.onnx", threads)
        ref = dict(zip(names, s32.run(names, feeds), strict=True))
        got = dict(zip(names, s16.run(names, feeds), strict=True))
        result = compare_outputs(ref, got)
        failures += [f"{graph}.{n}: {r}" for n, r in result.items() if not r["ok"]]
        if graph == "unet":
            dev = float(np.abs(got["xattn_mean"].astype(np.float64).sum(-1) - 1).max())
            result["xattnRowSumMaxDev"] = dev
            if dev > XATTN_ROW_SUM_TOL:
                failures.append(f"unet.xattn_mean: rows sum to 1 ± {dev:.2e}, expected ± {XATTN_ROW_SUM_TOL} (fp32)")
            report["unetCallTime"] = {"threads": threads, **_time_unet(s32, s16, feeds, repeats)}
        report["graphs"][graph] = result

    for graph in ("vae_encoder", "vae_decoder"):
        if m16["graphs"][graph]["sha256"] != m32["graphs"][graph]["sha256"]:
            failures.append(f"{graph}: differs from the fp32 bundle's (the VAE must stay fp32)")
        if m16["graphs"][graph]["precision"] != "fp32":
            failures.append(f"{graph}: manifest precision {m16['graphs'][graph]['precision']!r}, expected 'fp32'")
    b32, b16 = _graph_bytes(fp32, "unet"), _graph_bytes(fp16, "unet")
    report["unetBytes"] = {"fp32": b32, "fp16": b16, "ratio": b16 / b32}
    report["failures"] = failures
    report["ok"] = not failures
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cgm_export.fp16_check")
    p.add_argument("--fp32", required=True, type=Path, help="fp32 bundle folder (cgm-model.json)")
    p.add_argument("--fp16", required=True, type=Path, help="fp16 bundle folder of the same model")
    p.add_argument("--inputs", required=True, type=Path, help="verify/ folder written by --tiny (index.json + .npy)")
    p.add_argument("--out", required=True, type=Path, help="report JSON")
    p.add_argument("--repeats", type=int, default=5, help="timed UNet calls per bundle")
    a = p.parse_args(argv)
    report = check(a.fp32, a.fp16, a.inputs, repeats=a.repeats)
    a.out.write_text(json.dumps(report, indent=2) + "\n")
    for f in report["failures"]:
        print(f"[fp16-check] FAIL {f}", file=sys.stderr)
    print(f"[fp16-check] {'ok' if report['ok'] else 'failed'}: {a.out}", flush=True)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
