"""fp32 ONNX graph → fp16 inside with fp32 graph inputs and outputs (issue #3: `--fp16`).

ONNX Runtime's own converter (`onnxruntime.transformers.float16`, the one its Stable Diffusion tooling uses)
does the conversion: it rewrites `Cast(to=float)` nodes, keeps the fp32-only inputs of Resize, and puts Casts
at the graph edges. onnxconverter-common's older copy does neither of the first two, which is why `--fp16` used
to fail (a Cast still producing fp32 where its output was declared fp16).

Kept in fp32 on purpose: the cross-attention probabilities that the `xattn_mean` output averages. The scores
MatMul, the scale, the Softmax and the means over heads and layers run in fp32 (the manifest promises
"softmax(QK^T*scale), fp32"), fed by the fp16 q and k projections. Type information comes from ONNX shape
inference on the file (`infer_shapes_path` works beyond protobuf's 2 GB limit).
"""

from __future__ import annotations

import heapq
import tempfile
from collections import deque
from pathlib import Path

import onnx
from onnx import TensorProto

# Ops between a recorded layer's `.float()` casts of q and k and its Softmax: QKᵀ (MatMul, Transpose of k)
# and the scale (Mul or Div), plus the Constants they read. Any other op ends the fp32 region.
_SCORE_OPS = frozenset({"MatMul", "Transpose", "Mul", "Div", "Constant"})


class Fp16ConversionError(RuntimeError):
    pass


def fp32_attention_nodes(graph: onnx.GraphProto, output: str) -> list[str]:
    """Names of the nodes that compute `output` from the attention scores: everything upstream of the
    output down to the Softmax nodes, then each Softmax's score computation (ops in _SCORE_OPS)."""
    producer = {o: n for n in graph.node for o in n.output}
    if output not in producer:
        raise Fp16ConversionError(f"graph output {output!r} has no producing node")
    keep: dict[str, onnx.NodeProto] = {}
    softmaxes: list[onnx.NodeProto] = []
    todo = deque([output])
    while todo:  # output → Softmax: means over layers and heads, stacking
        node = producer.get(todo.popleft())
        if node is None or node.name in keep:
            continue
        keep[node.name] = node
        if node.op_type == "Softmax":
            softmaxes.append(node)
        else:
            todo.extend(node.input)
    if not softmaxes:
        raise Fp16ConversionError(f"no Softmax feeds {output!r}: cannot keep the attention probabilities in fp32")
    todo = deque(i for s in softmaxes for i in s.input)
    while todo:  # Softmax → scores: MatMul(q, kᵀ) · scale
        node = producer.get(todo.popleft())
        if node is None or node.name in keep or node.op_type not in _SCORE_OPS:
            continue
        keep[node.name] = node
        todo.extend(node.input)
    return sorted(keep)


def _bypass_round_trips(graph: onnx.GraphProto, fp32_values: set[str]) -> int:
    """Bypasses Cast(to=float)∘Cast(to=float16) over values that are fp32 already (the converter puts them
    between kept-fp32 nodes and fp32 graph outputs or other kept nodes): only a rounding to fp16 is lost."""
    producer = {o: n for n in graph.node for o in n.output}
    outputs = {o.name for o in graph.output}
    bypassed: list[onnx.NodeProto] = []
    for node in graph.node:
        if node.op_type != "Cast" or _cast_to(node) != TensorProto.FLOAT:
            continue
        inner = producer.get(node.input[0])
        if inner is None or inner.op_type != "Cast" or _cast_to(inner) != TensorProto.FLOAT16:
            continue
        src = inner.input[0]
        if src not in fp32_values or src in outputs:
            continue
        if node.output[0] in outputs:
            if src not in producer:
                continue  # a graph input cannot be renamed into a graph output
            _rename_value(graph, src, node.output[0])  # the fp32 producer writes the graph output itself
        else:
            _rename_value(graph, node.output[0], src)  # consumers read the fp32 value directly
        bypassed.append(node)
    for n in bypassed:
        graph.node.remove(n)
    _drop_unused_casts(graph)
    return len(bypassed)


def _drop_unused_casts(graph: onnx.GraphProto) -> None:
    while True:
        used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
        dead = [n for n in graph.node if n.op_type == "Cast" and n.output[0] not in used]
        if not dead:
            return
        for n in dead:
            graph.node.remove(n)


def _rename_value(graph: onnx.GraphProto, old: str, new: str) -> None:
    for n in graph.node:
        for i, name in enumerate(n.input):
            if name == old:
                n.input[i] = new
        for i, name in enumerate(n.output):
            if name == old:
                n.output[i] = new
    for vi in list(graph.value_info):
        if vi.name == old:
            graph.value_info.remove(vi)


def _cast_to(node: onnx.NodeProto) -> int:
    return next(a.i for a in node.attribute if a.name == "to")


def _topological_sort(graph: onnx.GraphProto) -> None:
    """The converter appends its Casts at the end; ONNX wants producers before consumers. Kahn's algorithm,
    ready nodes taken in their original order, so the same input always gives the same file."""
    nodes = list(graph.node)
    producer = {o: k for k, n in enumerate(nodes) for o in n.output}
    waiting = [0] * len(nodes)
    users: list[list[int]] = [[] for _ in nodes]
    for k, n in enumerate(nodes):
        deps = {producer[i] for i in n.input if i in producer}
        waiting[k] = len(deps)
        for d in deps:
            users[d].append(k)
    ready = [k for k, w in enumerate(waiting) if w == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        k = heapq.heappop(ready)
        order.append(k)
        for u in users[k]:
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, u)
    if len(order) != len(nodes):
        stuck = next(nodes[k].name for k, w in enumerate(waiting) if w > 0)
        raise Fp16ConversionError(f"cycle in the converted graph near node {stuck!r}")
    del graph.node[:]
    graph.node.extend(nodes[k] for k in order)


def _io_types(model: onnx.ModelProto) -> list[tuple[str, int]]:
    return [(v.name, v.type.tensor_type.elem_type) for v in (*model.graph.input, *model.graph.output)]


def convert_to_fp16(fp32_path: Path, *, keep_fp32_outputs: tuple[str, ...] = ()) -> onnx.ModelProto:
    """Converts the fp32 graph at `fp32_path` (external data allowed) to fp16 inside, fp32 I/O.

    `keep_fp32_outputs` names attention-probability outputs computed entirely in fp32 (see module doc)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    with tempfile.TemporaryDirectory(dir=fp32_path.parent) as tmp:
        inferred = Path(tmp) / fp32_path.name
        onnx.shape_inference.infer_shapes_path(str(fp32_path), str(inferred))
        model = onnx.load(str(inferred), load_external_data=False)
        onnx.load_external_data_for_model(model, str(fp32_path.parent))
    io_before = _io_types(model)
    block = [n for out in keep_fp32_outputs for n in fp32_attention_nodes(model.graph, out)]
    model = convert_float_to_float16(model, keep_io_types=True, disable_shape_infer=True, node_block_list=block)
    blocked = set(block)
    fp32 = {o for n in model.graph.node if n.name in blocked for o in n.output}
    _bypass_round_trips(model.graph, fp32 | {v.name for v in model.graph.input})
    _topological_sort(model.graph)
    if _io_types(model) != io_before:
        raise Fp16ConversionError(f"graph I/O types changed in fp16 conversion: {io_before} → {_io_types(model)}")
    if not any(t.data_type == TensorProto.FLOAT16 for t in model.graph.initializer):
        raise Fp16ConversionError("no initializer was converted to fp16")
    return model
