"""The parameter stack of a population: K students of one shape, trained at once.

Every weight of the K members lives in one tensor with a leading member axis, so a
forward pass of all members is one batched matrix product per layer
(:func:`torch.baddbmm`), and one backward pass yields every member's gradient (the
members' losses are summed; their parameters are disjoint, so each gradient is that
member's own). :class:`BatchedAdam` steps all members at once with per-member learning
rate and weight decay and a per-member mask: a masked member does not move, and neither
do its Adam moments or its step count.

Why batched matrix products rather than ``torch.func.stack_module_state`` + ``vmap``:
on the CPU, for students of a few hundred parameters, ``vmap`` over ``functional_call``
re-traces the module every call and measured slower (see ``benchmarks/bench_population.py``
``--probe``); the hand-written stack is also what the optimiser needs (one tensor per
layer, no per-member parameter objects).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from autodistill.training.students import MLP

__all__ = ["StackedMLP", "BatchedAdam", "copy_where"]


class StackedMLP:
    """The weights of K :class:`~autodistill.training.students.MLP` members of one shape.

    ``weights[l]`` is ``[K, in, out]`` (the transpose of ``nn.Linear.weight``),
    ``biases[l]`` is ``[K, out]``; the last layer is the head. All are leaf tensors that
    require gradients.
    """

    def __init__(self, members: Sequence[MLP], device: torch.device) -> None:
        first = members[0]
        self.k = len(members)
        self.n_features, self.n_classes = first.n_features, first.n_classes
        self.hidden_dim = first.hidden_dim
        self.hidden_sizes = first.hidden_sizes
        layers = [_linears(m) for m in members]
        self.weights: list[torch.Tensor] = []
        self.biases: list[torch.Tensor] = []
        for index in range(len(layers[0])):
            w = torch.stack([ls[index].weight.detach().T for ls in layers]).to(device)
            b = torch.stack([ls[index].bias.detach() for ls in layers]).to(device)
            self.weights.append(w.contiguous().requires_grad_(True))
            self.biases.append(b.contiguous().requires_grad_(True))

    def parameters(self) -> list[torch.Tensor]:
        """Every stacked tensor, weights then biases, layer by layer."""
        return [t for pair in zip(self.weights, self.biases, strict=True) for t in pair]

    def forward(self, x: torch.Tensor, members: torch.Tensor | slice | None = None,
                layers: bool = False) -> tuple[torch.Tensor, ...]:
        """Logits ``[M, n, C]`` and hidden features ``[M, n, H]`` (and, when ``layers``,
        the list of every hidden layer's features ``[M, n, H_l]``, input side first).

        Args:
            x: ``[M, n, d]`` (one batch per member) or ``[n, d]`` (the same rows for all).
            members: The M members to run: indices, a slice, or all K when ``None``.
            layers: Also return the per-layer features (for layer-mapping MI objectives).
        """
        weights, biases = self.weights, self.biases
        if isinstance(members, slice):
            weights = [w[members] for w in weights]
            biases = [b[members] for b in biases]
        elif members is not None:
            weights = [w.index_select(0, members) for w in weights]
            biases = [b.index_select(0, members) for b in biases]
        hidden = x
        last = len(weights) - 1
        features: list[torch.Tensor] = []
        for index, (w, b) in enumerate(zip(weights, biases, strict=True)):
            if hidden.dim() == 2:
                out = torch.matmul(hidden, w) + b.unsqueeze(1)
            else:
                out = torch.baddbmm(b.unsqueeze(1), hidden, w)
            if index == last:
                if hidden.dim() == 2:  # no hidden layer: the input is the hidden feature
                    hidden = hidden.expand(w.shape[0], *hidden.shape)
                return (out, hidden, features or [hidden]) if layers else (out, hidden)
            hidden = torch.relu(out)
            if layers:
                features.append(hidden)
        raise AssertionError("an MLP has a head")

    def state_tensors(self) -> list[torch.Tensor]:
        """Every stacked tensor a member's state is made of (an MLP has no buffers: its
        :meth:`parameters`)."""
        return self.parameters()

    @torch.no_grad()
    def snapshot(self) -> list[torch.Tensor]:
        """A copy of every stacked tensor (for the best-epoch weights)."""
        return [t.detach().clone() for t in self.state_tensors()]

    @torch.no_grad()
    def member_module(self, index: int, state: Sequence[torch.Tensor] | None = None) -> MLP:
        """Member ``index`` as an ordinary :class:`MLP` on the CPU (weights from ``state``,
        a :meth:`snapshot`, or the current ones)."""
        tensors = list(state) if state is not None else self.parameters()
        module = MLP(self.n_features, self.n_classes, self.hidden_sizes)
        for layer_index, linear in enumerate(_linears(module)):
            linear.weight.copy_(tensors[2 * layer_index][index].T.cpu())
            linear.bias.copy_(tensors[2 * layer_index + 1][index].cpu())
        return module.eval()


def _linears(model: MLP) -> list[nn.Linear]:
    return [m for m in model.body if isinstance(m, nn.Linear)] + [model.head]


def copy_where(target: Sequence[torch.Tensor], source: Sequence[torch.Tensor],
               mask: torch.Tensor) -> None:
    """``target[k] = source[k]`` for the members ``k`` where ``mask`` is true, in place."""
    with torch.no_grad():
        for t, s in zip(target, source, strict=True):
            view = mask.view(-1, *([1] * (t.dim() - 1)))
            t.copy_(torch.where(view, s, t))


class BatchedAdam:
    """Adam (L2 weight decay, as ``torch.optim.Adam``) over stacked member tensors.

    With ``[1]`` learning rate and decay it is a plain Adam over any tensors (one MI
    critic's, for instance).

    Args:
        params: Tensors with a leading member axis of length K (at least 1-D).
        lr: ``[K]`` learning rates.
        weight_decay: ``[K]`` weight decays.
        betas, eps: As ``torch.optim.Adam``.
    """

    def __init__(self, params: Sequence[torch.Tensor], lr: torch.Tensor,
                 weight_decay: torch.Tensor, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.params = list(params)
        device = self.params[0].device
        self.lr = lr.to(device=device, dtype=torch.float32)
        self.weight_decay = weight_decay.to(device=device, dtype=torch.float32)
        self.decay = bool((self.weight_decay != 0).any())
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.steps = torch.zeros_like(self.lr)
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self) -> None:
        """Drop the gradients."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, active: torch.Tensor | None = None) -> None:
        """One Adam step of the members where ``active`` (``[K]`` bool) is true; all when
        ``None``. A parameter without a gradient is left alone.

        Every member takes the single run's operations in the single run's order, with
        its own scalars (bias corrections in float64, as Python computes them there), so
        a member moves as it would alone, bit for bit. A masked member gets the neutral
        scalars (``m`` interpolated with weight 0, ``v`` times 1 plus 0, a step of 0), so
        neither it nor its moments move, with the same few ``torch._foreach`` calls (a
        ``torch.where`` per moment and weight cost twice as many operations)."""
        if self.lr.numel() == 1 and active is None:
            self._step_single()
            return
        pairs = [(p, m, v) for p, m, v in zip(self.params, self.exp_avg, self.exp_avg_sq,
                                               strict=True) if p.grad is not None]
        moving = None if active is None else active.to(self.steps.dtype)
        self.steps += 1.0 if moving is None else moving
        steps = self.steps.clamp_min(1.0).double()
        step_size = (self.lr.double() / (1.0 - self.beta1 ** steps)).float()
        root_bc2 = (1.0 - self.beta2 ** steps).sqrt().float()
        w1: torch.Tensor | float = 1.0 - self.beta1
        w2: torch.Tensor | float = 1.0 - self.beta2
        b2: torch.Tensor | float = self.beta2
        if moving is not None:
            step_size, w1, w2 = step_size * moving, w1 * moving, w2 * moving
            b2 = torch.where(moving > 0, self.beta2, 1.0).to(moving.dtype)
        if not pairs:
            return
        params, exp_avg, exp_avg_sq = (list(t) for t in zip(*pairs, strict=True))
        grads = [p.grad for p in params]

        def per_member(values: torch.Tensor | float) -> list[torch.Tensor] | float:
            if not isinstance(values, torch.Tensor):
                return values
            return [values.view((-1,) + (1,) * (p.dim() - 1)) for p in params]

        if self.decay:
            grads = torch._foreach_addcmul(grads, params, per_member(self.weight_decay))
        torch._foreach_lerp_(exp_avg, grads, per_member(w1))
        torch._foreach_mul_(exp_avg_sq, per_member(b2))
        if isinstance(w2, torch.Tensor):  # v + (w2·g)·g, as addcmul's value·g·g
            torch._foreach_addcmul_(exp_avg_sq, torch._foreach_mul(grads, per_member(w2)), grads)
        else:
            torch._foreach_addcmul_(exp_avg_sq, grads, grads, value=w2)
        denom = torch._foreach_sqrt(exp_avg_sq)
        torch._foreach_div_(denom, per_member(root_bc2))
        torch._foreach_add_(denom, self.eps)
        update = torch._foreach_mul(exp_avg, per_member(step_size))  # addcdiv's (lr·m)/denom
        torch._foreach_div_(update, denom)
        torch._foreach_sub_(params, update)

    def _step_single(self) -> None:
        """One member (an MI critic): a few ``torch._foreach`` calls for all its tensors."""
        self.steps += 1.0
        step = float(self.steps)
        lr, decay = float(self.lr), float(self.weight_decay)
        pairs = [(p, m, v) for p, m, v in zip(self.params, self.exp_avg, self.exp_avg_sq,
                                               strict=True) if p.grad is not None]
        if not pairs:
            return
        params, exp_avg, exp_avg_sq = (list(t) for t in zip(*pairs, strict=True))
        grads = [p.grad for p in params]
        if decay:
            grads = torch._foreach_add(grads, params, alpha=decay)
        torch._foreach_lerp_(exp_avg, grads, 1.0 - self.beta1)
        torch._foreach_mul_(exp_avg_sq, self.beta2)
        torch._foreach_addcmul_(exp_avg_sq, grads, grads, value=1.0 - self.beta2)
        denom = torch._foreach_sqrt(exp_avg_sq)
        torch._foreach_div_(denom, (1.0 - self.beta2 ** step) ** 0.5)
        torch._foreach_add_(denom, self.eps)
        torch._foreach_addcdiv_(params, exp_avg, denom, value=-lr / (1.0 - self.beta1 ** step))
