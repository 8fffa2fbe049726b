"""Students: small MLPs whose size is the user's deployment budget (``--student mlp:16``).

The search tunes *how to train* a student, never its size. The same :class:`MLP` serves
as the ``auto`` teacher (wider). ``forward`` returns ``(logits, hidden)`` so that MI
objectives can read the last hidden layer; the module stays TorchScript-scriptable.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from autodistill.errors import PipelineError

__all__ = ["MLP", "parse_student_spec", "build_student", "count_params", "STUDENT_FORMAT",
           "student_params", "check_student_fits"]

STUDENT_FORMAT = "mlp:WIDTH[,WIDTH...] (e.g. mlp:16 or mlp:64,32)"
_MAX_WIDTH = 1 << 16
#: float32 weights, their gradients, Adam's two moments and the best-epoch copy.
_BYTES_PER_PARAM = 4 * 5


class MLP(nn.Module):
    """A ReLU multilayer perceptron returning ``(logits, hidden)``.

    ``hidden`` is the output of the last hidden layer's ReLU (the input itself when
    ``hidden`` is empty). Attributes (plain ints, so TorchScript keeps them):
    ``hidden_dim`` (the width of ``hidden``), ``n_features``, ``n_classes``.

    Args:
        n_features: Input width.
        n_classes: Number of output logits.
        hidden: Widths of the hidden layers, input side first.
    """

    def __init__(self, n_features: int, n_classes: int, hidden: Sequence[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = int(n_features)
        for size in hidden:
            layers += [nn.Linear(width, int(size)), nn.ReLU()]
            width = int(size)
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, int(n_classes))
        self.hidden_dim = width
        self.n_features = int(n_features)
        self.n_classes = int(n_classes)
        self.hidden_sizes = tuple(int(s) for s in hidden)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(logits [n, C], hidden [n, hidden_dim])`` for a batch ``x [n, d]``."""
        hidden = self.body(x)
        return self.head(hidden), hidden

    def layer_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The output of every hidden layer's ReLU, input side first (``[x]`` when there
        is no hidden layer); the last is ``forward``'s ``hidden``."""
        features = []
        hidden = x
        for module in self.body:
            hidden = module(hidden)
            if isinstance(module, nn.ReLU):
                features.append(hidden)
        return features or [x]


def parse_student_spec(spec: str) -> tuple[int, ...]:
    """Parse ``mlp:16`` to ``(16,)`` and ``mlp:64,32`` to ``(64, 32)``.

    Raises:
        PipelineError: when the spec is not ``mlp:`` followed by positive integer widths.
    """
    text = str(spec).strip()
    kind, sep, widths = text.partition(":")
    error = PipelineError(f"--student '{spec}': expected {STUDENT_FORMAT}")
    if kind.strip().lower() != "mlp" or not sep:
        raise error
    try:
        sizes = tuple(int(w) for w in widths.split(","))
    except ValueError:
        raise error from None
    if not sizes or any(s < 1 or s > _MAX_WIDTH for s in sizes):
        raise error
    return sizes


def student_params(spec: str, n_features: int, n_classes: int) -> int:
    """Parameters of the student ``spec`` for this input and class count, without building it."""
    widths = [int(n_features), *parse_student_spec(spec), int(n_classes)]
    return sum((a + 1) * b for a, b in zip(widths, widths[1:], strict=False))


def check_student_fits(spec: str, n_features: int, n_classes: int) -> None:
    """Refuse a student whose training would not fit in the available memory.

    Raises:
        PipelineError: naming the parameter count and the bytes it needs.
    """
    from autodistill._resources import check_fits

    params = student_params(spec, n_features, n_classes)
    check_fits(params * _BYTES_PER_PARAM,
               f"--student '{spec}' ({params:,} parameters for {n_features} features)",
               "use narrower layers", PipelineError)


def build_student(spec: str, n_features: int, n_classes: int) -> MLP:
    """Build the (untrained) student described by ``spec`` for this input and class count.

    Raises:
        PipelineError: for a malformed spec (see :func:`parse_student_spec`) or a student
            too large for the available memory.
    """
    check_student_fits(spec, n_features, n_classes)
    return MLP(n_features, n_classes, parse_student_spec(spec))


def count_params(module: nn.Module | None) -> int:
    """Number of parameters of ``module`` (0 for ``None``)."""
    if module is None:
        return 0
    return int(sum(p.numel() for p in module.parameters()))
