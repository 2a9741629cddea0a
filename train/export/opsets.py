"""The op set of an exported file, read from the file itself (not from the model that made it).

- TFLite: the flatbuffer's operator codes, decoded with the schema ai-edge-litert ships
  (``schema_py_generated``); custom ops and Flex (TF select) ops are reported by their custom code.
- Core ML: the MIL program's op types, from the ``.mlpackage``'s spec (no macOS needed).
- ONNX: the graph's node op types (``domain::op`` for non-default domains).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path


def tflite_ops(path: str | Path) -> Counter:
    """Op name -> count over every subgraph. Custom ops appear as ``CUSTOM:<code>`` (Flex ops as ``CUSTOM:Flex...``)."""
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = schema.Model.GetRootAsModel(Path(path).read_bytes(), 0)
    codes = []
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        # Codes >= 127 live in builtin_code; older files keep them in the deprecated int8 field.
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        name = names.get(code, f"UNKNOWN_{code}")
        if name == "CUSTOM":
            name = f"CUSTOM:{(oc.CustomCode() or b'').decode(errors='replace')}"
        codes.append(name)
    ops: Counter = Counter()
    for s in range(model.SubgraphsLength()):
        sg = model.Subgraphs(s)
        for i in range(sg.OperatorsLength()):
            ops[codes[sg.Operators(i).OpcodeIndex()]] += 1
    return ops


def _coreml_spec(path: str | Path):
    import coremltools as ct

    return ct.models.MLModel(str(path), skip_model_load=True).get_spec()


def coreml_ops(path: str | Path) -> Counter:
    """MIL op type -> count over the ML program's functions ('const' included)."""
    spec = _coreml_spec(path)
    if spec.WhichOneof("Type") != "mlProgram":
        raise ValueError(f"{path}: not an ML program (is {spec.WhichOneof('Type')})")
    ops: Counter = Counter()

    def walk(block) -> None:
        for op in block.operations:
            ops[op.type] += 1
            for inner in op.blocks:
                walk(inner)

    for fn in spec.mlProgram.functions.values():
        for block in fn.block_specializations.values():
            walk(block)
    return ops


def coreml_io(path: str | Path) -> dict:
    """Spec version, inputs and outputs (name, dtype, shape) of a Core ML model."""
    from coremltools.proto import FeatureTypes_pb2 as ft

    spec = _coreml_spec(path)
    dtype_names = {v: k for k, v in ft.ArrayFeatureType.ArrayDataType.items()}

    def feats(features) -> list[dict]:
        out = []
        for f in features:
            arr = f.type.multiArrayType
            out.append({"name": f.name, "dtype": dtype_names.get(arr.dataType, str(arr.dataType)), "shape": list(arr.shape)})
        return out

    return {
        "specification_version": spec.specificationVersion,
        "inputs": feats(spec.description.input),
        "outputs": feats(spec.description.output),
    }


def onnx_ops(path: str | Path) -> Counter:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    ops: Counter = Counter()
    for node in model.graph.node:
        ops[node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}::{node.op_type}"] += 1
    return ops


def ops_of(path: str | Path) -> Counter:
    p = Path(path)
    if p.suffix == ".tflite":
        return tflite_ops(p)
    if p.suffix == ".mlpackage":
        return coreml_ops(p)
    if p.suffix == ".onnx":
        return onnx_ops(p)
    raise ValueError(f"{p}: no op reader for {p.suffix!r} files")
