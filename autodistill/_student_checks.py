"""The conformance checks of a student family (:func:`autodistill.testing.check_student`)."""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from autodistill._checks import _check, _finite, _require
from autodistill.students import StudentFamily

__all__ = ["check_student"]


def check_student(cls: type, args: str, *, bad_args: Sequence[str] = ("\x00not a spec",),
                  n_features: int = 5, n_classes: int = 3, seed: int = 0,
                  onnx: bool = True) -> None:
    """Check that the student family ``cls`` honours the contract; raise ``AssertionError``
    naming the family and the failed check.

    Checked: a ``name`` (no ``:``), a docstring and a ``format`` starting with
    ``NAME:``; ``cls(args)`` parses and every one of ``bad_args`` is refused with a
    ``ValueError``; ``build`` returns an ``nn.Module`` with the int attributes
    ``hidden_dim``, ``n_features``, ``n_classes``; ``forward`` gives finite
    ``(logits [n, n_classes], hidden [n, hidden_dim])``, one-row batches included;
    ``count_params`` (when not ``None``) equals the module's count; a loss on logits and
    hidden features reaches every parameter with a finite, non-zero gradient; the
    initialisation is repeatable under ``torch.manual_seed`` and differs between seeds
    (population members must differ); ``torch.func.functional_call`` gives what the
    module gives (the engine's populations call it so); ``layer_widths`` (when not
    ``None``) matches ``layer_features``; and, with ``onnx``, the module exports with
    ``torch.onnx.export`` and onnxruntime (when installed) reproduces its logits.

    Args:
        cls: A subclass of :class:`autodistill.students.StudentFamily`.
        args: A valid spec's arguments (``"16,8"`` for ``mlp:16,8``).
        bad_args: Arguments the family must refuse.
        n_features, n_classes: Shape of the random batches.
        seed: Seeds the checks; the global torch RNG is restored afterwards.
        onnx: Also check the export that ``distill --out`` needs.
    """
    label = f"student family '{getattr(cls, 'name', '')}' ({getattr(cls, '__qualname__', cls)})"
    with _check(label, "family"):
        _require(isinstance(cls, type) and issubclass(cls, StudentFamily),
                 "it does not derive from autodistill.students.StudentFamily")
    with _check(label, "name, docstring and format"):
        _require(isinstance(cls.name, str) and cls.name and ":" not in cls.name,
                 "'name' must be a non-empty str without ':'")
        _require(cls.summary(), "the class needs a docstring (its first line is the summary)")
        _require(isinstance(cls.format, str) and cls.format.startswith(f"{cls.name}:"),
                 f"'format' must describe the spec, starting with '{cls.name}:'")
    with _check(label, "parses its spec"):
        family = cls(args)
    for bad in bad_args:
        with _check(label, f"refuses the arguments {bad!r}"):
            try:
                cls(bad)
            except ValueError:
                continue
            raise AssertionError("no ValueError: malformed specs must be refused")
    with torch.random.fork_rng(devices=[]):
        _check_module(family, label, n_features, n_classes, seed, onnx)


def _build(family: StudentFamily, n_features: int, n_classes: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return family.build(n_features, n_classes)


def _check_module(family: StudentFamily, label: str, n_features: int, n_classes: int,
                  seed: int, onnx: bool) -> None:
    with _check(label, "builds a module with hidden_dim, n_features, n_classes"):
        module = _build(family, n_features, n_classes, seed)
        _require(isinstance(module, nn.Module), f"build() returned {type(module).__name__}")
        for attr, want in (("n_features", n_features), ("n_classes", n_classes)):
            _require(getattr(module, attr, None) == want, f"{attr} is "
                     f"{getattr(module, attr, None)!r}, expected {want}")
        _require(isinstance(getattr(module, "hidden_dim", None), int), "no int hidden_dim")
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(8, n_features, generator=gen)
    y = torch.randint(0, n_classes, (8,), generator=gen)
    with _check(label, "forward returns (logits, hidden) of the right shapes, finite"):
        for batch in (x, x[:1]):
            out = module(batch)
            _require(isinstance(out, tuple | list) and len(out) == 2,
                     "forward must return the tuple (logits, hidden)")
            logits, hidden = out
            rows = batch.shape[0]
            _require(tuple(logits.shape) == (rows, n_classes), f"logits {tuple(logits.shape)}, "
                     f"expected {(rows, n_classes)}")
            _require(tuple(hidden.shape) == (rows, module.hidden_dim), f"hidden "
                     f"{tuple(hidden.shape)}, expected {(rows, module.hidden_dim)}")
            _require(_finite(logits) and _finite(hidden), "NaN or inf in the outputs")
    with _check(label, "count_params matches the module"):
        counted = family.count_params(n_features, n_classes)
        actual = sum(p.numel() for p in module.parameters())
        _require(counted is None or int(counted) == actual,
                 f"count_params says {counted}, the module has {actual}")
    with _check(label, "gradients reach every parameter"):
        logits, hidden = module(x)
        (F.cross_entropy(logits, y) + hidden.pow(2).mean()).backward()
        for name, p in module.named_parameters():
            _require(p.grad is not None and _finite(p.grad), f"parameter '{name}' gets "
                     "no finite gradient")
        _require(sum(float(p.grad.abs().sum()) for p in module.parameters()) > 0,
                 "every gradient is zero")
    with _check(label, "initialisation repeatable under a seed, different across seeds"):
        again, other = (_build(family, n_features, n_classes, s) for s in (seed, seed + 1))
        same = [torch.equal(a, b) for a, b in zip(module.state_dict().values(),
                                                  again.state_dict().values(), strict=True)]
        _require(all(same), "the same torch.manual_seed gave other weights: draw them from "
                 "torch's global generator")
        differs = any(not torch.equal(a, b) for a, b in zip(
            module.state_dict().values(), other.state_dict().values(), strict=True))
        _require(differs or not list(module.parameters()), "another seed gave the same "
                 "weights: population members would all start alike")
    _check_functional(module, label, x)
    _check_layers(family, module, label, x)
    if onnx:
        _check_onnx(module, label, x)


def _check_functional(module: nn.Module, label: str, x: torch.Tensor) -> None:
    with _check(label, "torch.func.functional_call gives the module's outputs"):
        module.eval()
        state = {**dict(module.named_parameters()), **dict(module.named_buffers())}
        with torch.no_grad():
            expected = module(x)
            got = functional_call(module, {k: v.clone() for k, v in state.items()}, (x,))
        for a, b in zip(expected, got, strict=True):
            _require(torch.allclose(a, b, atol=1e-6), "the outputs differ")


def _check_layers(family: StudentFamily, module: nn.Module, label: str, x: torch.Tensor) -> None:
    widths = family.layer_widths()
    if widths is None:
        return
    with _check(label, "layer_widths matches layer_features"):
        features = module.layer_features(x)
        _require([f.shape[1] for f in features] == list(widths),
                 f"layer_features widths {[f.shape[1] for f in features]}, layer_widths "
                 f"{list(widths)}")
        _require(torch.allclose(features[-1], module(x)[1]), "the last layer's features are "
                 "not forward's hidden")


def _check_onnx(module: nn.Module, label: str, x: torch.Tensor) -> None:
    with _check(label, "exports to ONNX (distill --out)"):
        module = module.cpu().eval()
        buffer = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (x[:2],), buffer, input_names=["features"],
                              output_names=["logits", "hidden"], opset_version=18,
                              dynamic_axes={"features": {0: "rows"}, "logits": {0: "rows"},
                                            "hidden": {0: "rows"}}, dynamo=False)
        try:
            import onnxruntime as ort
        except ImportError:
            return
        session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
        got = session.run(["logits"], {"features": x.numpy()})[0]
        with torch.no_grad():
            expected = module(x)[0].numpy()
        _require(abs(got - expected).max() <= 1e-4, "onnxruntime's logits differ from the "
                 f"module's by {abs(got - expected).max():.2e}")
