"""Teacher training modes: ``auto+mcmi``, the MCMI teacher (Ye et al., ICLR 2024).

Ye, Chen, Hamidi, Yang & Tan, "Bayes Conditional Distribution Estimation for Knowledge
Distillation" (ICLR 2024; "maximum conditional mutual information", MCMI). A teacher
trained on cross-entropy alone estimates the Bayes conditional distribution
``P(Y | x)`` poorly: its outputs collapse towards one-hot. The paper trains it instead to
maximise the log-likelihood *plus* its conditional mutual information
``I(X; Ŷ | Y)``: with ``p(x)`` the teacher's softmax and ``q_y = E[p(X) | Y = y]`` the
centroid of the class-``y`` outputs,

    I(X; Ŷ | Y) = Σ_y P(y) · E[ KL(p(X) || q_y) | Y = y ],

the spread of each class's output distributions around its centroid. The loss on a
minibatch is ``CE - λ · CMI`` with the centroids taken over the batch (gradients flow
through them, as in the paper). Its soft labels carry more of how rows of one class
differ, which is what the student learns from (up to +3.3 points in the paper).

Asking for it: the teacher spec ``auto:mlp+mcmi`` (the MLP alone) or ``auto+mcmi`` (the
MCMI-trained MLP averaged with the ``gbdt`` teacher, as ``auto`` averages the plain one),
``λ`` at its default, or ``...+mcmi:LAMBDA``, wherever a teacher is named
(``--teacher``, ``distill``, ``search``, ``recommend``). The mode and ``λ`` join the MLP's
config, so the MCMI teacher is cached apart from the plain one. It applies only to
teachers the project trains by gradient descent (the MLP): a TorchScript teacher is
trained elsewhere, and a gradient-boosted teacher (scikit-learn's histogram GBDT) fits
each tree to the per-row gradient of a fixed log-loss and takes no custom objective,
while the CMI term couples the rows of a class through their centroid (so ``gbdt+mcmi``
is refused, and in ``auto+mcmi`` the gbdt half is the plain one).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch.nn import functional as F

from autodistill.components import KDLoss
from autodistill.errors import TeacherError
from autodistill.params import Float, Param

__all__ = ["TEACHER_MODES", "MCMI_PARAMS", "MCMILoss", "conditional_mi", "split_teacher_spec",
           "teacher_loss", "teacher_name", "teacher_modes"]

#: Declared hyperparameters of the ``mcmi`` teacher mode.
MCMI_PARAMS = {"lambda": Float(0.0, 2.0, default=0.5)}
#: Teacher modes: name -> (declared params, one-line summary); ``autodistill plugins``
#: lists them.
TEACHER_MODES: dict[str, tuple[dict[str, Float], str]] = {
    "mcmi": (MCMI_PARAMS, "MCMI teacher (Ye et al., ICLR 2024): cross-entropy minus "
                          "lambda x the teacher's conditional mutual information"),
}
#: Base teachers a mode applies to (``auto`` averages the MLP with ``gbdt``: the mode
#: trains its MLP half, the gbdt half is unchanged).
_TRAINED = ("auto", "auto:mlp")


def conditional_mi(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The empirical ``I(X; Ŷ | Y)`` of softmax outputs, in nats (differentiable).

    ``(1/n) Σ_i KL(p_i || q_{y_i})`` with ``q_c`` the mean softmax of the rows of class
    ``c`` (classes absent from the batch contribute nothing).

    Args:
        logits: ``[n, C]``.
        targets: ``[n]`` class indices.
    """
    log_p = F.log_softmax(logits.float(), dim=-1)
    p = log_p.exp()
    n_classes = logits.shape[-1]
    onehot = F.one_hot(targets, n_classes).to(p.dtype)  # [n, C]
    counts = onehot.sum(0).clamp_min(1.0)  # [C]
    centroids = (onehot.T @ p) / counts.unsqueeze(1)  # [C classes, C outputs]
    log_q = torch.log(centroids.clamp_min(1e-12))[targets]  # each row's class centroid
    return (p * (log_p - log_q)).sum(-1).mean()


def split_teacher_spec(text: str) -> tuple[str, dict[str, Any]]:
    """Split ``auto+mcmi[:LAMBDA]`` into the base spec and the config the mode adds.

    A spec without a known ``+MODE`` suffix comes back whole with an empty config (a
    TorchScript path may contain ``+``).

    Raises:
        TeacherError: for a mode on a teacher it does not apply to, or a bad ``λ``.
    """
    base, sep, tail = text.rpartition("+")
    mode, _, value = tail.partition(":")
    if not sep or mode.strip().lower() not in TEACHER_MODES:
        return text, {}
    mode, base = mode.strip().lower(), base.strip()
    if base.lower() not in _TRAINED:
        raise TeacherError(
            f"--teacher '{text}': mode '{mode}' applies only to teachers the project trains by "
            f"gradient descent ({', '.join(_TRAINED)}); a TorchScript teacher is trained "
            "elsewhere and gbdt (scikit-learn gradient boosting) takes no custom objective")
    declared = MCMI_PARAMS["lambda"]
    try:
        lam = declared.validate("lambda", float(value)) if value.strip() else declared.default
    except ValueError:
        raise TeacherError(f"--teacher '{text}': lambda must be a number in "
                           f"[{declared.low}, {declared.high}], e.g. auto+mcmi:0.5") from None
    return base.lower(), {"mode": mode, "mcmi_lambda": float(lam)}


class MCMILoss(KDLoss):
    """MCMI teacher loss: cross-entropy minus lambda x the batch's conditional MI.

    A label loss in the shape of a KD loss, so that the engine trains the MCMI teacher
    as it trains any student (:class:`~autodistill.training.engine.Member` ``kd_loss``).
    It is no registered component: it trains teachers, and a search never offers it.
    """

    name = "mcmi"
    params: ClassVar[dict[str, Param]] = MCMI_PARAMS
    uses_teacher = False

    def forward(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor | None,
                targets: torch.Tensor) -> torch.Tensor:
        """``CE - λ · I(X; Ŷ | Y)`` of one member's batch (``teacher_logits`` unused)."""
        return (F.cross_entropy(student_logits, targets)
                - float(self.hparams["lambda"]) * conditional_mi(student_logits, targets))


def teacher_loss(config: dict[str, Any]) -> KDLoss | None:
    """The training loss of an ``auto`` teacher MLP with this config: the
    :class:`MCMILoss` in ``mcmi`` mode, else ``None`` (plain cross-entropy, the ``none``
    KD loss of the teacher's pipeline)."""
    if config.get("mode") != "mcmi":
        return None
    return MCMILoss(**{"lambda": float(config["mcmi_lambda"])})


def teacher_name(config: dict[str, Any], base: str = "auto") -> str:
    """The canonical spec of an ``auto`` teacher config: ``base`` (``auto``, ``auto:mlp``)
    or, in ``mcmi`` mode, ``base+mcmi:LAMBDA``."""
    if config.get("mode") != "mcmi":
        return base
    return f"{base}+mcmi:{float(config['mcmi_lambda']):g}"


def teacher_modes() -> dict[str, Any]:
    """What ``autodistill plugins --json`` lists under ``teacher_modes``."""
    return {mode: {"summary": summary, "applies_to": list(_TRAINED),
                   "params": {p: d.to_dict() for p, d in params.items()}}
            for mode, (params, summary) in TEACHER_MODES.items()}
