"""An example autodistill plugin: one component per family and a student family
(``resmlp``), registered through hooks."""

from __future__ import annotations

from importlib import resources

import torch
from torch import nn
from torch.nn import functional as F

from autodistill.components import Augmentation, Curriculum, KDLoss, MIObjective
from autodistill.hookspecs import hookimpl
from autodistill.params import Float
from autodistill.students import StudentFamily, parse_widths

__all__ = ["CosineLogits", "LinearCKA", "FeatureSwap", "EasyHalf", "ResidualMLP", "ResMLPStudent"]


class CosineLogits(KDLoss):
    """Cross-entropy plus one minus the cosine similarity of student and teacher logits."""

    name = "cosine_logits"
    params = {"alpha": Float(0.0, 1.0, default=0.5)}

    def forward(self, student_logits, teacher_logits, targets):
        """(1-alpha)·CE + alpha·(1 - cos(s, t)), averaged over the batch."""
        ce = F.cross_entropy(student_logits, targets)
        cosine = F.cosine_similarity(student_logits, teacher_logits, dim=1).mean()
        return (1 - self.alpha) * ce + self.alpha * (1 - cosine)


class LinearCKA(MIObjective):
    """Maximise linear CKA between projected student and teacher features (a dependence proxy)."""

    name = "linear_cka"
    params = {"weight": Float(0.01, 10.0, default=1.0, log=True)}

    def __init__(self, student_dim, teacher_dim, **params):
        super().__init__(student_dim, teacher_dim, **params)
        self.project = nn.Linear(student_dim, teacher_dim)

    def _cka(self, s, t):
        s = self.project(s)
        s = s - s.mean(0, keepdim=True)
        t = t - t.mean(0, keepdim=True)
        cross = (s.T @ t).pow(2).sum()
        norm = (s.T @ s).pow(2).sum().sqrt() * (t.T @ t).pow(2).sum().sqrt()
        return cross / (norm + 1e-8)

    def forward(self, student_hidden, teacher_hidden):
        """Return -CKA, in [-1, 0]."""
        return -self._cka(student_hidden, teacher_hidden)

    @torch.no_grad()
    def estimate(self, student_hidden, teacher_hidden):
        """A Gaussian-style readout: -0.5·log(1 - CKA), in nats."""
        cka = float(self._cka(student_hidden, teacher_hidden).clamp(0.0, 0.999))
        return -0.5 * float(torch.log1p(torch.tensor(-cka)))


class FeatureSwap(Augmentation):
    """Swap each feature with the same feature of another row in the batch, with probability p."""

    name = "feature_swap"
    params = {"p": Float(0.0, 0.5, default=0.15)}

    def augment(self, x, y, generator):
        """Return a copy of ``x`` with about ``p`` of its cells taken from a shuffled batch."""
        perm = torch.randperm(x.shape[0], generator=generator).to(x.device)
        mask = (torch.rand(x.shape, generator=generator) < self.p).to(x.device)
        return torch.where(mask, x[perm], x)


class EasyHalf(Curriculum):
    """The easier half of the rows for the first half of training, then all rows."""

    name = "easy_half"
    params = {"switch": Float(0.1, 0.9, default=0.5)}

    def indices(self, epoch, generator, student_loss=None):
        """A shuffled subset: the easiest half before ``switch·epochs``, all rows after."""
        if epoch < self.switch * self.epochs:
            easy = torch.argsort(self.difficulty)[: max(1, self.n_rows // 2)]
            return easy[torch.randperm(easy.shape[0], generator=generator)]
        return torch.randperm(self.n_rows, generator=generator)


class ResidualMLP(nn.Module):
    """``x -> relu(Linear(x))``, then ``blocks`` residual blocks ``h + relu(Linear(h))``;
    the last ``h`` is the hidden feature, a linear head gives the logits."""

    def __init__(self, n_features: int, n_classes: int, width: int, blocks: int) -> None:
        super().__init__()
        self.stem = nn.Linear(n_features, width)
        self.blocks = nn.ModuleList(nn.Linear(width, width) for _ in range(blocks))
        self.head = nn.Linear(width, n_classes)
        self.hidden_dim, self.n_features, self.n_classes = int(width), int(n_features), int(n_classes)

    def forward(self, x):
        """Return ``(logits, hidden)``."""
        hidden = torch.relu(self.stem(x))
        for block in self.blocks:
            hidden = hidden + torch.relu(block(hidden))
        return self.head(hidden), hidden


class ResMLPStudent(StudentFamily):
    """A residual MLP: one width, a number of residual blocks (resmlp:WIDTH,BLOCKS)."""

    name = "resmlp"
    format = "resmlp:WIDTH,BLOCKS (e.g. resmlp:16,2)"

    def __init__(self, args):
        super().__init__(args)
        widths = parse_widths(args)
        if len(widths) != 2 or widths[1] > 16:
            raise ValueError("give a width and 1 to 16 blocks")
        self.width, self.blocks = widths

    def build(self, n_features, n_classes):
        """A :class:`ResidualMLP`."""
        return ResidualMLP(n_features, n_classes, self.width, self.blocks)

    def count_params(self, n_features, n_classes):
        """Stem, blocks and head, weights and biases."""
        w = self.width
        return (n_features + 1) * w + self.blocks * (w + 1) * w + (w + 1) * n_classes


@hookimpl
def register_kd_losses(register):
    """Register :class:`CosineLogits`."""
    register(CosineLogits)


@hookimpl
def register_mi_objectives(register):
    """Register :class:`LinearCKA`."""
    register(LinearCKA)


@hookimpl
def register_augmentations(register):
    """Register :class:`FeatureSwap`."""
    register(FeatureSwap)


@hookimpl
def register_curricula(register):
    """Register :class:`EasyHalf`."""
    register(EasyHalf)


@hookimpl
def register_students(register):
    """Register :class:`ResMLPStudent` (``--student resmlp:16,2``)."""
    register(ResMLPStudent)


@hookimpl
def register_evidence(register):
    """Register what ``cosine_logits`` scored on the knowledge base's bench tasks
    (written by ``autodistill meta bench-component cosine_logits``)."""
    register(str(resources.files("autodistill_example") / "evidence.jsonl"))
