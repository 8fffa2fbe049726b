"""A deployable student: one ONNX graph from the user's raw columns to class probabilities.

The graph has one input per raw column, named as the column (numeric columns ``double
[n, 1]`` with NaN for missing, categorical ones ``string [n, 1]`` with ``"<missing>"`` for
missing), and two outputs: ``probabilities`` (``float [n, C]``) and ``label`` (``string
[n]``, the class names). Inside, the fitted preprocessing is written as ONNX operators
(imputation, standardisation, and the one-hot encoding as an ``ai.onnx.ml.LabelEncoder``
from each training category to its output slot), the student comes from
``torch.onnx.export``, and :func:`onnx.compose.merge_models` joins the two.

Why ONNX operators and not skl2onnx: skl2onnx 1.20 refuses a ``OneHotEncoder`` with
infrequent categories (``max_categories``), which the training encoding uses; the slot
table written here is taken from the fitted encoder itself, so it is exact, unseen
categories included. Why ONNX and not TorchScript: ``torch.jit`` is deprecated, and
an ONNX file is scored by onnxruntime without torch and without unpickling anything.

:func:`save_model` checks the artifact before it is written: on the raw test rows its
probabilities must equal the in-process student's (to 1e-5), else it is an
:class:`ExportError`, never a silently wrong file.
"""

from __future__ import annotations

import io
import logging
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from autodistill.data.input_schema import InputSchema
from autodistill.errors import AutodistillError

if TYPE_CHECKING:
    import onnx

    from autodistill.data.dataset import Dataset

__all__ = ["ExportError", "OPSET", "build_onnx", "check_onnx", "encoded_schema", "TOLERANCE"]

log = logging.getLogger(__name__)

OPSET = 18
_ML_OPSET = 3
TOLERANCE = 1e-5
_UNSEEN = "\x00unseen category\x00"


class ExportError(AutodistillError):
    """The student or its preprocessing cannot be written as a deployable artifact."""


def build_onnx(dataset: Dataset, student: nn.Module) -> tuple[onnx.ModelProto, InputSchema]:
    """The whole model as one ONNX graph, and the input schema with its categories.

    Raises:
        ExportError: the dataset has no raw table, its preprocessing has a step this
            exporter does not know, or the student cannot be exported.
    """
    import onnx

    if dataset.raw is None or dataset.preprocessor is None:
        raise ExportError(f"{dataset.spec}: the dataset keeps no raw columns; load it with "
                          "autodistill.data.dataset.load_dataset to export a model")
    pre, schema = _preprocessing(dataset)
    body = onnx.compose.add_prefix(_student_graph(student, dataset.n_features), "student/")
    body.ir_version = pre.ir_version = min(pre.ir_version, body.ir_version)
    merged = onnx.compose.merge_models(pre, body, io_map=[("features", "student/features")])
    _add_outputs(merged, dataset.classes)
    onnx.checker.check_model(merged)
    return merged, schema


def check_onnx(model: onnx.ModelProto, schema: InputSchema, dataset: Dataset,
               student: nn.Module) -> float:
    """Largest difference between the artifact's and the student's test probabilities.

    Raises:
        ExportError: when it exceeds :data:`TOLERANCE`.
    """
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = schema.prepare(dataset.raw.split("test"), dataset.spec, warn=False)
    got = session.run(["probabilities"], feeds)[0]
    student = student.cpu().eval()
    with torch.no_grad():
        logits = student(torch.as_tensor(dataset.X_test, dtype=torch.float32))
        logits = logits[0] if isinstance(logits, tuple | list) else logits
        expected = torch.softmax(logits, dim=1).numpy()
    diff = float(np.abs(got - expected).max()) if len(expected) else 0.0
    if not diff <= TOLERANCE:
        raise ExportError(f"{dataset.spec}: the exported model differs from the trained student "
                          f"by {diff:.2e} on the test rows (tolerance {TOLERANCE}); please "
                          "report this with the data's column types")
    return diff


# --------------------------------------------------------------------------- preprocessing


def _preprocessing(dataset: Dataset) -> tuple[onnx.ModelProto, InputSchema]:
    """The fitted ColumnTransformer as ONNX operators, checked against the training split."""
    from onnx import TensorProto, helper

    raw = dataset.raw
    schema = raw.schema()
    nodes: list[Any] = []
    inits: list[Any] = []
    blocks: list[str] = []
    categories: dict[str, list[str]] = {}
    unseen_as: dict[str, str] = {}
    for name, transformer, columns in dataset.preprocessor.transformers_:
        if transformer == "drop" or name == "remainder":
            continue
        # The data module passes column positions (names cost quadratic time to look up).
        names_in = getattr(dataset.preprocessor, "feature_names_in_", None)
        columns = [str(names_in[c]) if names_in is not None and not isinstance(c, str) else str(c)
                   for c in columns]
        if name == "num" and columns == list(raw.numeric):
            blocks.append(_numeric_block(transformer, columns, nodes, inits))
        elif name == "cat" and columns == list(raw.categorical):
            blocks += _categorical_blocks(transformer, columns, nodes, inits,
                                          categories, unseen_as)
        else:
            raise ExportError(f"{dataset.spec}: cannot export the preprocessing step '{name}' "
                              f"({type(transformer).__name__}); this exporter knows the "
                              "numeric and categorical steps of autodistill.data.dataset")
    nodes.append(helper.make_node("Concat", blocks, ["features"], axis=1) if len(blocks) > 1
                 else helper.make_node("Identity", blocks, ["features"]))
    inputs = [helper.make_tensor_value_info(c, TensorProto.DOUBLE, ["rows", 1])
              for c in raw.numeric]
    inputs += [helper.make_tensor_value_info(c, TensorProto.STRING, ["rows", 1])
               for c in raw.categorical]
    output = helper.make_tensor_value_info("features", TensorProto.FLOAT,
                                           ["rows", dataset.n_features])
    graph = helper.make_graph(nodes, "preprocessing", inputs, [output], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET),
                                                    helper.make_opsetid("ai.onnx.ml", _ML_OPSET)])
    schema = InputSchema(**{**schema.__dict__, "categories": categories,
                            "unseen_as": unseen_as})
    _check_preprocessing(model, schema, dataset)
    return model, schema


def _numeric_block(pipe: Any, columns: list[str], nodes: list, inits: list) -> str:
    """Impute (NaN and inf -> the fitted fill value), then standardise; float32 out."""
    from onnx import TensorProto, helper, numpy_helper

    steps = list(getattr(pipe, "named_steps", {}).values())
    kinds = [type(s).__name__ for s in steps]
    if kinds != ["SimpleImputer", "StandardScaler"]:
        raise ExportError(f"cannot export the numeric steps {kinds}; expected "
                          "SimpleImputer then StandardScaler")
    imputer, scaler = steps
    k = len(columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an array without the fitted feature names
        fill = imputer.transform(np.full((1, k), np.nan)).astype(np.float64)
    mean = np.zeros(k) if scaler.mean_ is None else scaler.mean_
    scale = np.ones(k) if scaler.scale_ is None else scaler.scale_
    for tag, value in (("fill", fill), ("mean", mean), ("scale", scale)):
        inits.append(numpy_helper.from_array(np.asarray(value, np.float64).reshape(1, k),
                                             f"pre/num_{tag}"))
    nodes += [
        helper.make_node("Concat", columns, ["pre/num_raw"], axis=1) if k > 1
        else helper.make_node("Identity", columns, ["pre/num_raw"]),
        helper.make_node("IsNaN", ["pre/num_raw"], ["pre/num_nan"]),
        helper.make_node("IsInf", ["pre/num_raw"], ["pre/num_inf"]),
        helper.make_node("Or", ["pre/num_nan", "pre/num_inf"], ["pre/num_absent"]),
        helper.make_node("Where", ["pre/num_absent", "pre/num_fill", "pre/num_raw"],
                         ["pre/num_imputed"]),
        helper.make_node("Sub", ["pre/num_imputed", "pre/num_mean"], ["pre/num_centred"]),
        helper.make_node("Div", ["pre/num_centred", "pre/num_scale"], ["pre/num_scaled"]),
        helper.make_node("Cast", ["pre/num_scaled"], ["pre/num"], to=TensorProto.FLOAT),
    ]
    return "pre/num"


def _categorical_blocks(encoder: Any, columns: list[str], nodes: list, inits: list,
                        categories: dict[str, list[str]],
                        unseen_as: dict[str, str]) -> list[str]:
    """One-hot blocks: category -> output slot (LabelEncoder), slot -> one-hot (Equal)."""
    from onnx import TensorProto, helper, numpy_helper

    if type(encoder).__name__ != "OneHotEncoder" or getattr(encoder, "drop", None) is not None:
        raise ExportError(f"cannot export the categorical step {type(encoder).__name__}; "
                          "expected a OneHotEncoder without drop")
    widths = list(encoder._n_features_outs)
    blocks = []
    for i, column in enumerate(columns):
        known = [str(c) for c in encoder.categories_[i]]
        slots = _slots(encoder, columns, i, known + [_UNSEEN], widths[i])
        categories[column] = known
        unseen_as[column] = "zeros" if slots[-1] < 0 else "infrequent"
        tag = f"pre/cat{i}"
        inits.append(numpy_helper.from_array(np.arange(widths[i], dtype=np.int64)
                                             .reshape(1, -1), f"{tag}_slots"))
        nodes += [
            helper.make_node("LabelEncoder", [column], [f"{tag}_slot"], domain="ai.onnx.ml",
                             keys_strings=known, values_int64s=[int(s) for s in slots[:-1]],
                             default_int64=int(slots[-1])),
            helper.make_node("Equal", [f"{tag}_slot", f"{tag}_slots"], [f"{tag}_hot"]),
            helper.make_node("Cast", [f"{tag}_hot"], [tag], to=TensorProto.FLOAT),
        ]
        blocks.append(tag)
    return blocks


def encoded_schema(dataset: Dataset) -> InputSchema:
    """The input schema of ``dataset`` with what ``model.json`` adds: each categorical
    column's training categories and what an unseen one becomes, read from the fitted
    encoder (for the in-process student, which has no ``model.json``)."""
    categories: dict[str, list[str]] = {}
    unseen_as: dict[str, str] = {}
    columns = list(dataset.raw.categorical)
    for name, encoder, _ in dataset.preprocessor.transformers_:
        if name != "cat" or encoder == "drop":
            continue
        for i, column in enumerate(columns):
            categories[column] = [str(c) for c in encoder.categories_[i]]
            slot = _slots(encoder, columns, i, [_UNSEEN], encoder._n_features_outs[i])[0]
            unseen_as[column] = "zeros" if slot < 0 else "infrequent"
    return InputSchema(**{**dataset.raw.schema().__dict__, "categories": categories,
                          "unseen_as": unseen_as})


def _slots(encoder: Any, columns: list[str], i: int, values: list[str], width: int) -> np.ndarray:
    """The output slot (0..width-1, or -1 for all zeros) the fitted encoder gives each value,
    read from the encoder itself so that infrequent and unseen categories come out right."""
    import pandas as pd

    frame = pd.DataFrame({c: [str(encoder.categories_[j][0])] * len(values)
                          for j, c in enumerate(columns)})
    frame[columns[i]] = values
    start = int(sum(encoder._n_features_outs[:i]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Found unknown categories": that is the point
        hot = np.asarray(encoder.transform(frame))[:, start:start + width]
    if np.any(hot.sum(axis=1) > 1):
        raise ExportError(f"cannot export the encoding of column '{columns[i]}': a category "
                          "maps to several outputs")
    return np.where(hot.sum(axis=1) > 0, hot.argmax(axis=1), -1).astype(np.int64)


def _check_preprocessing(model: onnx.ModelProto, schema: InputSchema, dataset: Dataset) -> None:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = schema.prepare(dataset.raw.split("train"), dataset.spec, warn=False)
    got = session.run(["features"], feeds)[0]
    diff = float(np.abs(got - dataset.X_train).max()) if got.size else 0.0
    if got.shape != dataset.X_train.shape or not diff <= TOLERANCE:
        raise ExportError(f"{dataset.spec}: the exported preprocessing differs from training "
                          f"(shape {got.shape} vs {dataset.X_train.shape}, difference {diff:.2e}); "
                          "please report this with the data's column types")


# --------------------------------------------------------------------------- student


def _student_graph(student: nn.Module, n_features: int) -> onnx.ModelProto:
    """``torch.onnx.export`` of the student: ``features [rows, d]`` -> ``logits``."""
    import onnx

    student = student.cpu().eval()
    example = (torch.zeros(2, n_features),)
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(student, example, buffer, input_names=["features"],
                              output_names=["logits", "hidden"], opset_version=OPSET,
                              dynamic_axes={"features": {0: "rows"}, "logits": {0: "rows"},
                                            "hidden": {0: "rows"}}, dynamo=False)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"cannot export the student {type(student).__name__} to ONNX "
                          f"({reason}); its forward must be traceable") from None
    return onnx.load_from_string(buffer.getvalue())


def _add_outputs(model: onnx.ModelProto, classes: tuple[str, ...]) -> None:
    """Logits -> ``probabilities`` (softmax) and ``label`` (the class name of the argmax)."""
    from onnx import TensorProto, helper

    graph = model.graph
    graph.initializer.append(helper.make_tensor("post/classes", TensorProto.STRING,
                                                [len(classes)], [c.encode() for c in classes]))
    graph.node.extend([
        helper.make_node("Softmax", ["student/logits"], ["probabilities"], axis=1),
        helper.make_node("ArgMax", ["student/logits"], ["post/index"], axis=1, keepdims=0),
        helper.make_node("Gather", ["post/classes", "post/index"], ["label"], axis=0),
    ])
    del graph.output[:]
    graph.output.extend([
        helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["rows", len(classes)]),
        helper.make_tensor_value_info("label", TensorProto.STRING, ["rows"]),
    ])
