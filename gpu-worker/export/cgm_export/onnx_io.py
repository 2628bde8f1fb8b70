"""torch → ONNX with the TorchScript exporter, plus external data for graphs over 2 GB."""

from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path

import onnx
import torch

OPSET = 17
TWO_GB = 2 * 1024**3


def export_graph(
    module,
    args: tuple,
    path: Path,
    input_names: list[str],
    output_names: list[str],
    dynamic_axes: dict,
    output_shapes: dict | None = None,
    fp16: bool = False,
    fp32_attention_outputs: tuple[str, ...] = (),
) -> None:
    """Exports `module` to `path` (model.onnx [+ model.onnx_data when the weights exceed 2 GB]).

    `output_shapes` overrides output dims the tracer leaves symbolic (None keeps the traced dim).
    `fp16` converts the exported fp32 graph to fp16 inside with fp32 inputs/outputs (fp16.py), as ORT's SD
    tooling does; converting the torch module instead gives mixed-type LayerNorms ORT rejects.
    `fp32_attention_outputs` (fp16 only): outputs whose attention probabilities stay fp32 inside."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        raw = Path(tmp) / "model.onnx"
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TorchScript tracer warnings about Python control flow
            torch.onnx.export(
                module,
                args,
                str(raw),
                input_names=input_names,
                output_names=output_names,
                dynamic_axes=dynamic_axes,
                opset_version=OPSET,
                do_constant_folding=True,
                dynamo=False,  # ORT's SD fusion scripts expect TorchScript-style graphs (docs/algorithm.md §5.1)
            )
        model = onnx.load(str(raw), load_external_data=True)
        for out in model.graph.output:
            for i, dim in enumerate((output_shapes or {}).get(out.name, [])):
                if dim is not None:
                    out.type.tensor_type.shape.dim[i].Clear()
                    out.type.tensor_type.shape.dim[i].dim_value = dim
        weight_bytes = sum(t.ByteSize() for t in model.graph.initializer)
        if fp16:
            from .fp16 import convert_to_fp16

            shaped = Path(tmp) / "fp32" / path.name
            shaped.parent.mkdir()
            _save(model, shaped, weight_bytes)
            del model  # a real UNet is ~10 GB in fp32: one copy in memory at a time
            model = convert_to_fp16(shaped, keep_fp32_outputs=fp32_attention_outputs)
            weight_bytes = sum(t.ByteSize() for t in model.graph.initializer)
        for f in path.parent.glob(path.stem + ".onnx*"):
            f.unlink()
        _save(model, path, weight_bytes)
    shutil.rmtree(path.parent / "__pycache__", ignore_errors=True)


def _save(model, path: Path, weight_bytes: int) -> None:
    """Writes and checks the model; weights over ~2 GB go to one `model.onnx_data` side file."""
    if weight_bytes > TWO_GB - 64 * 1024**2:
        # one side file next to the graph: ORT rejects external paths that escape the model folder
        onnx.save(
            model,
            str(path),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=path.name + "_data",
            size_threshold=1024,
        )
        onnx.checker.check_model(str(path))
    else:
        onnx.save(model, str(path))
        onnx.checker.check_model(model)


def describe(path: Path) -> dict:
    """Input/output names, element types and shapes (symbolic dims as strings) of an ONNX file."""
    model = onnx.load(str(path), load_external_data=False)

    def value(v):
        t = v.type.tensor_type
        dims = [d.dim_param if d.dim_param else d.dim_value for d in t.shape.dim]
        return {"name": v.name, "dtype": onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name, "shape": dims}

    return {"inputs": [value(v) for v in model.graph.input], "outputs": [value(v) for v in model.graph.output]}
