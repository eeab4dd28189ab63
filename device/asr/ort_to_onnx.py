"""Re-serialise an ONNX Runtime (.ort) model as ONNX, so that ORT optimises it.

ONNX Runtime does not constant-fold graphs it loads from the .ort format.
Moonshine's int8 decoder keeps its weights quantised and dequantises all of
them (Cast, Mul, Add) on every call, which made one decoder step cost about
100 ms of CPU. Loaded from the same graph written as ONNX, ORT folds the
dequantisation once at load time and a step costs a few milliseconds.
Nothing is changed: the nodes, attributes and initializers are copied as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from device.asr.engine import EngineError
from device.asr.onnx_runtime import load_onnxruntime


def _fbs() -> Any:
    try:
        load_onnxruntime()
        from onnxruntime.tools.ort_format_model.ort_flatbuffers_py import fbs
    except ImportError as error:  # pragma: no cover - part of onnxruntime
        raise EngineError("onnxruntime's ORT format reader is missing") from error
    return fbs


def _tensor(onnx: Any, tensor: Any, data: bytes) -> Any:
    proto = onnx.TensorProto()
    proto.name = tensor.Name().decode()
    proto.dims.extend(tensor.Dims(i) for i in range(tensor.DimsLength()))
    proto.data_type = tensor.DataType()
    if tensor.StringDataLength():
        proto.string_data.extend(tensor.StringData(i) for i in range(tensor.StringDataLength()))
    elif tensor.RawDataLength():
        proto.raw_data = tensor.RawDataAsNumpy().tobytes()
    elif tensor.ExternalDataOffset() > 0:
        raise EngineError("ORT models with external initializer data are not supported")
    return proto


def _value_info(onnx: Any, fbs: Any, info: Any) -> Any:
    proto = onnx.ValueInfoProto()
    proto.name = info.Name().decode()
    type_info = info.Type()
    if type_info is None or type_info.ValueType() != fbs.TypeInfoValue.TypeInfoValue.tensor_type:
        return proto
    table = fbs.TensorTypeAndShape.TensorTypeAndShape()
    value = type_info.Value()
    table.Init(value.Bytes, value.Pos)
    tensor_type = proto.type.tensor_type
    tensor_type.elem_type = table.ElemType()
    shape = table.Shape()
    if shape is not None:
        tensor_type.shape.SetInParent()
        for i in range(shape.DimLength()):
            dim = tensor_type.shape.dim.add()
            dim_value = shape.Dim(i).Value()
            if dim_value is None:
                continue
            if dim_value.DimType() == fbs.DimensionValueType.DimensionValueType.VALUE:
                dim.dim_value = dim_value.DimValue()
            elif dim_value.DimParam():
                dim.dim_param = dim_value.DimParam().decode()
    return proto


def _attribute(onnx: Any, fbs: Any, attribute: Any, data: bytes) -> Any:
    proto = onnx.AttributeProto()
    proto.name = attribute.Name().decode()
    kind = attribute.Type()
    proto.type = kind
    kinds = onnx.AttributeProto
    if kind == kinds.FLOAT:
        proto.f = attribute.F()
    elif kind == kinds.INT:
        proto.i = attribute.I()
    elif kind == kinds.STRING:
        proto.s = attribute.S()
    elif kind == kinds.TENSOR:
        proto.t.CopyFrom(_tensor(onnx, attribute.T(), data))
    elif kind == kinds.GRAPH:
        proto.g.CopyFrom(_graph(onnx, fbs, attribute.G(), data))
    elif kind == kinds.FLOATS:
        proto.floats.extend(attribute.Floats(i) for i in range(attribute.FloatsLength()))
    elif kind == kinds.INTS:
        proto.ints.extend(attribute.Ints(i) for i in range(attribute.IntsLength()))
    elif kind == kinds.STRINGS:
        proto.strings.extend(attribute.Strings(i) for i in range(attribute.StringsLength()))
    elif kind == kinds.TENSORS:
        proto.tensors.extend(_tensor(onnx, attribute.Tensors(i), data)
                             for i in range(attribute.TensorsLength()))
    elif kind == kinds.GRAPHS:
        proto.graphs.extend(_graph(onnx, fbs, attribute.Graphs(i), data)
                            for i in range(attribute.GraphsLength()))
    else:
        raise EngineError(f"unsupported attribute type {kind} in the ORT model")
    return proto


def _graph(onnx: Any, fbs: Any, graph: Any, data: bytes) -> Any:
    proto = onnx.GraphProto()
    proto.name = "graph"
    infos = {}
    for i in range(graph.NodeArgsLength()):
        info = graph.NodeArgs(i)
        infos[info.Name().decode()] = info
    initializers = [graph.Initializers(i) for i in range(graph.InitializersLength())]
    initializer_names = set()
    for tensor in initializers:
        proto.initializer.append(_tensor(onnx, tensor, data))
        initializer_names.add(tensor.Name().decode())
    for i in range(graph.InputsLength()):
        name = graph.Inputs(i).decode()
        if name not in initializer_names:
            proto.input.append(_value_info(onnx, fbs, infos[name]))
    for i in range(graph.OutputsLength()):
        proto.output.append(_value_info(onnx, fbs, infos[graph.Outputs(i).decode()]))
    nodes = [graph.Nodes(i) for i in range(graph.NodesLength())]
    for node in sorted((n for n in nodes if n is not None), key=lambda n: n.Index()):
        made = proto.node.add()
        made.op_type = node.OpType().decode()
        made.domain = (node.Domain() or b"").decode()
        made.name = (node.Name() or b"").decode()
        made.input.extend(node.Inputs(i).decode() for i in range(node.InputsLength()))
        made.output.extend(node.Outputs(i).decode() for i in range(node.OutputsLength()))
        for i in range(node.AttributesLength()):
            made.attribute.append(_attribute(onnx, fbs, node.Attributes(i), data))
    return proto


def ort_to_onnx_bytes(path: Path) -> bytes:
    """The model in `path` (.ort) as a serialised ONNX ModelProto."""
    try:
        import onnx
    except ImportError as error:
        raise EngineError("re-serialising the .ort model needs the onnx package") from error
    fbs = _fbs()
    data = path.read_bytes()
    session = fbs.InferenceSession.InferenceSession.GetRootAsInferenceSession(data, 0)
    model = session.Model()
    if model is None:
        raise EngineError(f"{path} is not an ORT format model")
    proto = onnx.ModelProto()
    proto.ir_version = model.IrVersion()
    for i in range(model.OpsetImportLength()):
        opset = model.OpsetImport(i)
        entry = proto.opset_import.add()
        entry.domain = (opset.Domain() or b"").decode()
        entry.version = opset.Version()
    proto.graph.CopyFrom(_graph(onnx, fbs, model.Graph(), data))
    return proto.SerializeToString()
