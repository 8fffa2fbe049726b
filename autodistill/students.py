"""Student families: what ``--student FAMILY:ARGS`` builds, and the built-in MLP module.

A student family is a small class a plugin registers through the ``register_students``
hook (the built-in ``mlp`` family is registered the same way, from
``autodistill/plugins/students.py``). It has a ``name`` (the spec prefix), a docstring
whose first line is what ``autodistill plugins`` prints, a ``format`` shown when a spec is
malformed, and three methods on an instance parsed from the spec's arguments::

    class Linear(StudentFamily):
        '''A linear student: softmax regression, the input as its hidden features.'''

        name = "linear"
        format = "linear: (no arguments)"

        def __init__(self, args: str) -> None:
            if args.strip():
                raise ValueError("takes no arguments")

        def build(self, n_features, n_classes):
            return LinearModule(n_features, n_classes)

        def count_params(self, n_features, n_classes):
            return (n_features + 1) * n_classes

The module ``build`` returns is an ``nn.Module`` whose ``forward(x)`` maps a float batch
``[n, n_features]`` to ``(logits [n, n_classes], hidden [n, hidden_dim])`` and which has
the int attributes ``hidden_dim``, ``n_features`` and ``n_classes``. It should export with
``torch.onnx.export`` (``distill --out``) and be callable through
``torch.func.functional_call`` (the engine trains a population of members at once).
:func:`autodistill.testing.check_student` checks all of this.

:class:`MLP` lives here, below the registry, because the engine keeps a fast path for it
(:class:`~autodistill.training.population.StackedMLP`) and the ``auto`` teacher is one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import nn

__all__ = ["StudentFamily", "MLP", "parse_widths"]

#: Largest width a layer of the built-in MLP may have.
MAX_WIDTH = 1 << 16


class StudentFamily:
    """Base of student families; an instance is one parsed spec (``mlp:64,32``).

    Subclasses set :attr:`name` and :attr:`format`, parse the spec's arguments in
    ``__init__`` (raising ``ValueError`` with the reason when they are malformed; the
    core turns it into a one-line error naming the spec and :attr:`format`) and
    implement :meth:`build`; :meth:`count_params` and :meth:`layer_widths` are optional.
    """

    #: The spec prefix: ``--student NAME:ARGS``.
    name: ClassVar[str] = ""
    #: The expected spec, with an example: shown when a spec is malformed.
    format: ClassVar[str] = ""

    def __init__(self, args: str) -> None:
        self.args = args

    def build(self, n_features: int, n_classes: int) -> nn.Module:
        """A new (untrained) module for this input width and class count; its
        initialisation draws from torch's global generator (the engine seeds it)."""
        raise NotImplementedError

    def count_params(self, n_features: int, n_classes: int) -> int | None:
        """The parameter count of :meth:`build`'s module, computed without building it;
        ``None`` when that is not cheap (the core then builds one and counts)."""
        return None

    def layer_widths(self) -> tuple[int, ...] | None:
        """The widths of the hidden layers the module exposes through
        ``layer_features(x)`` (a list of ``[n, width]`` tensors, input side first, the last
        being ``forward``'s ``hidden``), or ``None`` when it exposes none. Two or more let
        layer-mapping MI objectives (``layer_map``) apply."""
        return None

    @classmethod
    def summary(cls) -> str:
        """The first line of the class docstring."""
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


def parse_widths(args: str) -> tuple[int, ...]:
    """``"64,32"`` -> ``(64, 32)``: positive integer widths up to :data:`MAX_WIDTH`.

    Raises:
        ValueError: naming what is wrong.
    """
    try:
        sizes = tuple(int(w) for w in args.split(","))
    except ValueError:
        raise ValueError("widths must be integers") from None
    if not sizes or any(s < 1 or s > MAX_WIDTH for s in sizes):
        raise ValueError(f"widths must lie in [1, {MAX_WIDTH}]")
    return sizes


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
