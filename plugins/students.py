"""Built-in student family: ``mlp:WIDTH[,WIDTH...]``, a ReLU multilayer perceptron.

Registered through the ``register_students`` hook, exactly as a third-party family is.
"""

from __future__ import annotations

from torch import nn

from autodistill.hookspecs import hookimpl
from autodistill.students import MLP, StudentFamily, parse_widths

__all__ = ["MLPStudent"]


class MLPStudent(StudentFamily):
    """A ReLU multilayer perceptron with the given hidden widths (hidden = last ReLU)."""

    name = "mlp"
    format = "mlp:WIDTH[,WIDTH...] (e.g. mlp:16 or mlp:64,32)"

    def __init__(self, args: str) -> None:
        super().__init__(args)
        self.widths = parse_widths(args)

    def build(self, n_features: int, n_classes: int) -> nn.Module:
        """An :class:`~autodistill.students.MLP` (the engine's fast path stacks it)."""
        return MLP(n_features, n_classes, self.widths)

    def count_params(self, n_features: int, n_classes: int) -> int:
        """Weights and biases of every layer, head included."""
        widths = [int(n_features), *self.widths, int(n_classes)]
        return sum((a + 1) * b for a, b in zip(widths, widths[1:], strict=False))

    def layer_widths(self) -> tuple[int, ...]:
        """Every hidden layer's width (``MLP.layer_features``)."""
        return self.widths


@hookimpl
def register_students(register):
    """Register :class:`MLPStudent`."""
    register(MLPStudent)
