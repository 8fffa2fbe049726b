"""The parameter stack of a population of any student family, through ``torch.func``.

The built-in ``mlp`` family has a hand-written stack
(:class:`~autodistill.training.population.StackedMLP`, batched matrix products). A family
a plugin registers is stacked generically: every parameter (and buffer) of the K members
becomes one tensor with a leading member axis, as
:func:`torch.func.stack_module_state` lays them out, and the forward pass of M members
is :func:`torch.func.vmap` over :func:`torch.func.functional_call` of one copy of the
module. The optimiser (:class:`~autodistill.training.population.BatchedAdam`) then steps
those tensors exactly as it steps the MLP's, a masked member not moving.

A module ``vmap`` cannot run (one that updates a buffer in place in its forward pass,
such as batch normalisation in training mode, or calls ``.item()``) is detected by a
probe at construction; its members are then called one after another, still through
``functional_call`` on slices of the same stacked tensors, so training is as correct,
only slower.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, vmap

from autodistill.training.population import StackedMLP
from autodistill.training.students import MLP

__all__ = ["StackedStudents", "stack_students"]

log = logging.getLogger(__name__)


class _WithLayers(nn.Module):
    """``module``'s ``(logits, hidden)`` and its ``layer_features`` (when it has them)."""

    def __init__(self, module: nn.Module, layers: bool) -> None:
        super().__init__()
        self.module, self.layers = module, layers

    def forward(self, x: torch.Tensor) -> tuple[Any, ...]:
        logits, hidden = self.module(x)[:2]
        if not self.layers:
            return logits, hidden
        return logits, hidden, list(self.module.layer_features(x))


class StackedStudents:
    """The weights of K student modules of one family and shape, on a member axis.

    It answers what the engine asks of a stack: :meth:`parameters`, :meth:`forward`,
    :meth:`snapshot` and :meth:`member_module`.
    """

    def __init__(self, members: Sequence[nn.Module], device: torch.device) -> None:
        first = members[0]
        self.k = len(members)
        self.n_features, self.n_classes = int(first.n_features), int(first.n_classes)
        self.hidden_dim = int(first.hidden_dim)
        self.template = copy.deepcopy(first).cpu()
        base = copy.deepcopy(first).to(device)
        self._plain, self._layered = _WithLayers(base, False), _WithLayers(base, True)
        self.names = [f"module.{n}" for n, _ in first.named_parameters()]
        self.buffer_names = [f"module.{n}" for n, _ in first.named_buffers()]
        named = [(dict(m.named_parameters()), dict(m.named_buffers())) for m in members]
        self.params = [torch.stack([p[n[7:]].detach() for p, _ in named]).to(device)
                       .contiguous().requires_grad_(True) for n in self.names]
        self.buffers = [torch.stack([b[n[7:]].detach() for _, b in named]).to(device).clone()
                        for n in self.buffer_names]
        self.vmapped = self._probe(device)

    def _probe(self, device: torch.device) -> bool:
        """Whether ``vmap`` runs the module (else members are called one by one)."""
        try:
            with torch.no_grad():
                for x in (torch.zeros(2, self.n_features, device=device),
                          torch.zeros(self.k, 2, self.n_features, device=device)):
                    # copies: a probe in training mode must not move running statistics
                    self._vmapped(self._plain, self.params,
                                  [b.clone() for b in self.buffers], x)
            return True
        except Exception as exc:  # noqa: BLE001 - any failure means: call members one by one
            log.info("student %s cannot be vmapped (%s: %s); its population members are "
                     "called one by one", type(self.template).__name__, type(exc).__name__, exc)
            return False

    def parameters(self) -> list[torch.Tensor]:
        """Every stacked parameter tensor ``[K, ...]`` (what the optimiser steps)."""
        return list(self.params)

    def _call(self, wrapper: nn.Module, params: Sequence[torch.Tensor],
              buffers: Sequence[torch.Tensor], x: torch.Tensor) -> tuple[Any, ...]:
        tensors = {**dict(zip(self.names, params, strict=True)),
                   **dict(zip(self.buffer_names, buffers, strict=True))}
        return functional_call(wrapper, tensors, (x,))

    def _vmapped(self, wrapper: nn.Module, params: list[torch.Tensor],
                 buffers: list[torch.Tensor], x: torch.Tensor) -> tuple[Any, ...]:
        def call(p: tuple[torch.Tensor, ...], b: tuple[torch.Tensor, ...],
                 rows: torch.Tensor) -> tuple[Any, ...]:
            return self._call(wrapper, p, b, rows)

        return vmap(call, in_dims=(0, 0, 0 if x.dim() == 3 else None),
                    randomness="different")(tuple(params), tuple(buffers), x)

    def forward(self, x: torch.Tensor, members: torch.Tensor | slice | None = None,
                layers: bool = False) -> tuple[Any, ...]:
        """Logits ``[M, n, C]`` and hidden features ``[M, n, H]`` (and, when ``layers``,
        the list of every layer's features ``[M, n, H_l]``); arguments as
        :meth:`StackedMLP.forward <autodistill.training.population.StackedMLP.forward>`."""
        def pick(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
            if members is None:
                return tensors
            if isinstance(members, slice):
                return [t[members] for t in tensors]
            return [t.index_select(0, members) for t in tensors]

        params, buffers = pick(self.params), pick(self.buffers)
        wrapper = self._layered if layers else self._plain
        # Training steps run the module in training mode (dropout on); validation and the
        # curricula's per-row losses run under no_grad, in evaluation mode.
        wrapper.train(torch.is_grad_enabled())
        count = params[0].shape[0] if params else self.k
        out = None
        if self.vmapped and count > 1:  # one member: a plain call costs less than vmap's
            try:
                out = self._vmapped(wrapper, params, buffers, x)
            except Exception as exc:  # noqa: BLE001 - a path the probe did not take
                log.info("student %s: vmap failed (%s: %s); members are called one by one "
                         "from now on", type(self.template).__name__, type(exc).__name__, exc)
                self.vmapped = False
        if out is None:
            out = self._one_by_one(wrapper, params, buffers, x, count, layers)
        if isinstance(members, torch.Tensor) and buffers and wrapper.training:
            # index_select copied the buffers: what training moved in place (batch
            # normalisation's running statistics) goes back to the members' own rows.
            with torch.no_grad():
                for stacked, picked in zip(self.buffers, buffers, strict=True):
                    stacked.index_copy_(0, members.to(stacked.device), picked)
        return out

    def _one_by_one(self, wrapper: nn.Module, params: list[torch.Tensor],
                    buffers: list[torch.Tensor], x: torch.Tensor, count: int,
                    layers: bool) -> tuple[Any, ...]:
        outs = [self._call(wrapper, [p[i] for p in params], [b[i] for b in buffers],
                           x[i] if x.dim() == 3 else x) for i in range(count)]
        logits, hidden = (torch.stack([o[j] for o in outs]) for j in (0, 1))
        if not layers:
            return logits, hidden
        depth = len(outs[0][2])
        return logits, hidden, [torch.stack([o[2][j] for o in outs]) for j in range(depth)]

    def state_tensors(self) -> list[torch.Tensor]:
        """Every stacked tensor a member's state is made of: parameters, then buffers
        (what a best-epoch :meth:`snapshot` keeps)."""
        return [*self.params, *self.buffers]

    @torch.no_grad()
    def snapshot(self) -> list[torch.Tensor]:
        """A copy of :meth:`state_tensors` (for the best epoch's weights and buffers)."""
        return [t.detach().clone() for t in self.state_tensors()]

    @torch.no_grad()
    def member_module(self, index: int, state: Sequence[torch.Tensor] | None = None) -> nn.Module:
        """Member ``index`` as an ordinary module on the CPU (parameters and buffers from
        ``state``, a :meth:`snapshot`, or the current ones)."""
        tensors = list(state) if state is not None else self.state_tensors()
        module = copy.deepcopy(self.template)
        own = {**dict(module.named_parameters()), **dict(module.named_buffers())}
        for name, stacked in zip(self.names + self.buffer_names, tensors, strict=True):
            own[name[7:]].copy_(stacked[index].cpu())
        return module.eval()


def stack_students(members: Sequence[nn.Module], device: torch.device) -> StackedMLP | StackedStudents:
    """The stack for a population: the hand-written :class:`StackedMLP` when every member
    is the built-in :class:`~autodistill.students.MLP` (the ``mlp`` family), else
    :class:`StackedStudents`."""
    if all(type(m) is MLP for m in members):
        return StackedMLP(members, device)
    return StackedStudents(members, device)
