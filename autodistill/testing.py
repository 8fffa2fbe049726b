"""Conformance checks for components and student families: autodistill's ``check_estimator``.

Run :func:`check_component` on your component class in your own test suite::

    from autodistill.testing import check_component

    def test_my_loss_honours_the_contract():
        check_component(MyLoss)

It finds the family from the base class and raises ``AssertionError`` naming the
component and the failed check. What is checked:

* every family: a non-empty ``name`` and docstring; a valid ``params`` declaration with
  defaults in range; the class builds with its defaults.
* KD loss: a finite scalar on random batches (and on a batch of one row), finite and
  non-zero gradients w.r.t. the student logits, ``teacher_logits=None`` accepted when
  ``uses_teacher`` is False. Teacher matching: with the label term switched off, the
  loss is smallest when the student equals the teacher, i.e. ``loss(t, t) <=
  loss(t + noise, t)`` (a soft cross-entropy is minimal, not zero, there). The label
  term is switched off by the class's ``teacher_only_params`` dict when it has one,
  otherwise by setting a declared ``ce_weight`` to its low end or a declared
  ``alpha`` in [0, 1] to 1; otherwise the defaults are used.
* MI objective (unless ``uses_hidden`` is False): finite loss and gradients, a finite
  estimate; trained briefly on correlated Gaussian pairs of known MI (x ~ N(0, I),
  y = ρx + √(1-ρ²)ε, MI = -d/2·log(1-ρ²), d = 2) for ρ in 0, 0.5, 0.75, 0.9 (a few
  hundred Adam steps, batch 64), its estimate, averaged over four batches of 128,
  rises with the true MI (Spearman rank correlation >= 0.8 and the top above the
  bottom); the estimate need not be in nats for this check. A class with ``log_batch_bounded = True`` (InfoNCE) must stay <= log K.
  Given ``mi_reference`` (``(x, y) -> nats``, e.g. ``autodistill.plugins.mist.reference_mi``),
  it also runs on a non-Gaussian ladder with no closed-form MI (four clusters drawing
  apart), ranked against the reference's estimates of it.
* Augmentation: same shape, dtype and device, finite, input not modified in place,
  identical output for two generators with the same seed (so every random number must
  come from the generator), float64 and one-row batches handled. One that generates rows
  (``generates_rows``, the default) declares ``pool_factor`` (0 by default) and its pool
  (``generate_pool``, factor 2) is factor x the rows, finite and repeatable.
* Member axis (KD losses and augmentations declaring ``member_axis = True``): stacked
  over three instances with different hyperparameters and called once on inputs with a
  leading member axis, it gives what each instance gives on its own member's inputs.
* Curriculum: every epoch, a non-empty 1-D ``int64`` tensor of indices in [0, N);
  the same run twice under one seed gives the same indices; a constant difficulty
  works; ``needs_student_loss`` classes get a per-row loss (``None`` in epoch 0);
  ``transform`` keeps shape and dtype, is finite, repeatable, leaves its input alone. A
  class with ``order = "easy_first"`` (``"hard_first"``) must train epoch 0 on rows
  easier (harder) on average than the whole set; one with ``matches_vanilla_budget =
  True`` must show, over the run, within 25% of ``epochs·N`` rows.

A student family (``register_students``) has its own check, :func:`check_student`
(``check_student(MyFamily, "16,2")``, the arguments of a valid spec): spec parsing and
refusal, output shapes, hidden features, gradients, seeded initialisation,
``functional_call`` (populations) and the ONNX export.
"""

from __future__ import annotations

from typing import Any

import torch

from autodistill._checks import _check, _finite, _require
from autodistill._member_checks import check_member_axis
from autodistill._mi_checks import MIEstimator, _check_mi_objective
from autodistill._student_checks import check_student
from autodistill.components import (
    FAMILY_BASES,
    POOL_FACTOR,
    Augmentation,
    Component,
    Curriculum,
    KDLoss,
)
from autodistill.params import Float, Int, Param

__all__ = ["check_component", "check_student"]


def check_component(cls: type, *, n_classes: int = 3, seed: int = 0, mi_steps: int = 300,
                    mi_reference: MIEstimator | None = None) -> None:
    """Run the conformance checks of ``cls``'s family; raise ``AssertionError`` on failure.

    Args:
        cls: A subclass of one of the four base classes of :mod:`autodistill.components`.
        n_classes: Number of classes in the random batches (at least 2).
        seed: Seeds every random batch; the global torch RNG is restored afterwards.
        mi_steps: Critic training steps per correlation level in the MI check.
        mi_reference: An independent MI estimator ``(x, y) -> nats``; adds the
            non-Gaussian ladder to the MI check.

    Raises:
        AssertionError: naming the component and the failed check.
    """
    family = next((fam for fam, base in FAMILY_BASES.items()
                   if isinstance(cls, type) and issubclass(cls, base)), None)
    if family is None:
        raise AssertionError(
            f"{cls!r} failed check 'family': it derives from none of KDLoss, MIObjective, "
            "Augmentation, Curriculum"
        )
    label = f"{family} '{getattr(cls, 'name', '')}' ({cls.__module__}.{cls.__qualname__})"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        _check_common(cls, label)
        check_member_axis(cls, label, seed, n_classes, _check, _require)
        if family == "kd_loss":
            _check_kd_loss(cls, label, seed, n_classes)
        elif family == "mi_objective":
            _check_mi_objective(cls, label, seed, mi_steps, mi_reference)
        elif family == "augmentation":
            _check_augmentation(cls, label, seed, n_classes)
            _check_pool(cls, label, seed, n_classes)
        else:
            _check_curriculum(cls, label, seed)


def _check_common(cls: type[Component], label: str) -> None:
    with _check(label, "name"):
        _require(isinstance(cls.name, str) and cls.name.strip(), "'name' must be a non-empty str")
        owner = next(klass for klass in cls.__mro__ if "name" in vars(klass))
        _require(owner is cls, f"inherits the name '{cls.name}' from {owner.__qualname__}; "
                 "give the class its own name")
    with _check(label, "docstring"):
        _require(cls.summary(), "the class needs a docstring (its first line is the summary)")
    with _check(label, "params declaration"):
        _require(isinstance(cls.params, dict), "'params' must be a dict of Float/Int/Categorical")
        for pname, decl in cls.params.items():
            _require(isinstance(decl, Param), f"param '{pname}' is not a Float, Int or Categorical")
            decl.check_declaration(pname)
            decl.validate(pname, decl.default)


def _teacher_only_params(cls: type[KDLoss]) -> dict[str, Any]:
    explicit = getattr(cls, "teacher_only_params", None)
    if explicit is not None:
        return dict(explicit)
    params = cls.params
    ce_weight, alpha = params.get("ce_weight"), params.get("alpha")
    if isinstance(ce_weight, Float):
        return {"ce_weight": ce_weight.low}
    if isinstance(alpha, Float) and alpha.low <= 1.0 == alpha.high:
        return {"alpha": 1.0}
    return {}


def _check_kd_loss(cls: type[KDLoss], label: str, seed: int, n_classes: int) -> None:
    with _check(label, "constructs with defaults"):
        loss_fn = cls()
    gen = torch.Generator().manual_seed(seed)
    rows = 16
    targets = torch.randint(0, n_classes, (rows,), generator=gen)
    teacher = 2.0 * torch.randn(rows, n_classes, generator=gen)
    student = (2.0 * torch.randn(rows, n_classes, generator=gen)).requires_grad_(True)
    uses_teacher = getattr(cls, "uses_teacher", True)

    with _check(label, "finite scalar loss"):
        loss = loss_fn(student, teacher if uses_teacher else None, targets)
        _require(isinstance(loss, torch.Tensor) and loss.dim() == 0,
                 f"expected a 0-dim tensor, got {type(loss).__name__} "
                 f"{tuple(getattr(loss, 'shape', ()))}")
        _require(_finite(loss), f"the loss is {float(loss.detach())}")
    with _check(label, "differentiable"):
        loss.backward()
        _require(student.grad is not None, "no gradient reaches the student logits")
        _require(_finite(student.grad), "the gradient w.r.t. the student logits is not finite")
        _require(student.grad.abs().sum() > 0, "the gradient w.r.t. the student logits is 0")
    with _check(label, "batch of one row"):
        one = loss_fn(student[:1].detach(), teacher[:1] if uses_teacher else None, targets[:1])
        _require(_finite(one), f"the loss on a one-row batch is {float(one.detach())}")
    if not uses_teacher:
        return
    with _check(label, "smallest when the student equals the teacher"):
        teacher_only = cls(**_teacher_only_params(cls))
        equal = float(teacher_only(teacher.clone(), teacher, targets))
        for _ in range(3):
            moved = teacher + 2.0 * torch.randn(rows, n_classes, generator=gen)
            other = float(teacher_only(moved, teacher, targets))
            _require(equal <= other + 1e-5 * (1.0 + abs(other)),
                     f"loss(s=t)={equal:.6g} > loss(s!=t)={other:.6g} with the label term off "
                     f"({_teacher_only_params(cls) or 'defaults'})")


def _check_augmentation(cls: type[Augmentation], label: str, seed: int, n_classes: int) -> None:
    with _check(label, "constructs with defaults"):
        augmentation = cls()
    gen = torch.Generator().manual_seed(seed)
    rows = 24
    x = torch.randn(rows, 5, generator=gen)
    x = torch.cat([x, (torch.rand(rows, 1, generator=gen) < 0.5).float()], dim=1)
    y = torch.randint(0, n_classes, (rows,), generator=gen)
    x_before, y_before = x.clone(), y.clone()

    def run(batch: torch.Tensor, labels: torch.Tensor, global_seed: int) -> torch.Tensor:
        torch.manual_seed(global_seed)  # a component using the global RNG cannot repeat
        return augmentation(batch, labels, torch.Generator().manual_seed(seed))

    with _check(label, "keeps shape, dtype and device; finite"):
        out = run(x, y, seed + 1)
        _require(isinstance(out, torch.Tensor), f"returned {type(out).__name__}, not a tensor")
        _require(out.shape == x.shape, f"shape {tuple(out.shape)} != input {tuple(x.shape)}")
        _require(out.dtype == x.dtype, f"dtype {out.dtype} != input {x.dtype}")
        _require(out.device == x.device, f"device {out.device} != input {x.device}")
        _require(_finite(out), "the output holds NaN or inf")
    with _check(label, "does not modify its input in place"):
        _require(torch.equal(x, x_before) and torch.equal(y, y_before),
                 "x or y changed after augment()")
    with _check(label, "repeatable under a seeded generator"):
        again = run(x, y, seed + 2)
        _require(torch.equal(out, again), "two generators with the same seed gave different "
                 "outputs: draw every random number from the generator passed in")
    with _check(label, "float64 batch"):
        out64 = run(x.double(), y, seed + 1)
        _require(out64.shape == x.shape and out64.dtype == torch.float64 and _finite(out64),
                 "a float64 batch must give a finite float64 batch of the same shape")
    with _check(label, "batch of one row"):
        out1 = run(x[:1], y[:1], seed + 1)
        _require(out1.shape == (1, x.shape[1]) and _finite(out1),
                 "a one-row batch must give a finite one-row batch")
    with _check(label, "one row per class"):
        distinct = torch.arange(min(rows, n_classes))
        out_d = run(x[: distinct.shape[0]], distinct, seed + 1)
        _require(out_d.shape == (distinct.shape[0], x.shape[1]) and _finite(out_d),
                 "a batch whose classes all have one row must still be augmented finitely")


def _check_pool(cls: type[Augmentation], label: str, seed: int, n_classes: int) -> None:
    """The pool path (``pool_factor``) of an augmentation that generates rows."""
    if not cls.generates_rows:
        return
    with _check(label, "declares pool_factor (0 = per batch, the default)"):
        decl = cls.params.get(POOL_FACTOR)
        _require(isinstance(decl, Int) and decl.default == 0 and decl.low == 0,
                 f"{POOL_FACTOR} must be an Int with low 0 and default 0 (the base class adds it)")
        augmentation = cls(**{POOL_FACTOR: 2})
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(21, 4, generator=gen)
    y = torch.randint(0, n_classes, (21,), generator=gen)
    with _check(label, "pool: factor x the rows, finite, repeatable"):
        pool = augmentation.generate_pool(x, y, 2, 8, torch.Generator().manual_seed(seed))
        _require(pool.shape == (42, 4) and pool.dtype == x.dtype and _finite(pool),
                 f"a pool of factor 2 over 21 rows must be 42 finite rows, got {tuple(pool.shape)}")
        again = augmentation.generate_pool(x, y, 2, 8, torch.Generator().manual_seed(seed))
        _require(torch.equal(pool, again), "two pools from generators with one seed differ")


def _curriculum_run(cls: type[Curriculum], difficulty: torch.Tensor, epochs: int, seed: int,
                    global_seed: int) -> list[torch.Tensor]:
    torch.manual_seed(global_seed)
    curriculum = cls(difficulty.numpy(), epochs)
    gen = torch.Generator().manual_seed(seed)
    loss_gen = torch.Generator().manual_seed(seed + 1)
    needs_loss = getattr(cls, "needs_student_loss", False)
    n_rows = difficulty.shape[0]
    out = []
    for epoch in range(epochs):
        loss = torch.rand(n_rows, generator=loss_gen) if needs_loss and epoch > 0 else None
        out.append(curriculum.indices(epoch, gen, loss))
    return out


def _require_valid_indices(runs: list[torch.Tensor], n_rows: int) -> None:
    for epoch, idx in enumerate(runs):
        _require(isinstance(idx, torch.Tensor), f"epoch {epoch}: returned "
                 f"{type(idx).__name__}, not a tensor")
        _require(idx.dtype == torch.int64 and idx.dim() == 1,
                 f"epoch {epoch}: expected a 1-D int64 tensor, got {idx.dtype} "
                 f"{tuple(idx.shape)}")
        _require(idx.numel() > 0, f"epoch {epoch}: no rows")
        _require(int(idx.min()) >= 0 and int(idx.max()) < n_rows,
                 f"epoch {epoch}: indices outside [0, {n_rows}): "
                 f"min {int(idx.min())}, max {int(idx.max())}")


def _check_curriculum(cls: type[Curriculum], label: str, seed: int) -> None:
    n_rows, epochs = 40, 8
    difficulty = torch.rand(n_rows, generator=torch.Generator().manual_seed(seed))
    with _check(label, "constructs with defaults"):
        cls(difficulty.numpy(), epochs)
    with _check(label, "valid indices every epoch"):
        runs = _curriculum_run(cls, difficulty, epochs, seed, seed + 1)
        _require_valid_indices(runs, n_rows)
    with _check(label, "repeatable under a seeded generator"):
        again = _curriculum_run(cls, difficulty, epochs, seed, seed + 2)
        _require(all(torch.equal(a, b) for a, b in zip(runs, again, strict=True)),
                 "the same seed gave different indices: draw every random number from "
                 "the generator passed in")
    with _check(label, "constant difficulty"):
        _require_valid_indices(
            _curriculum_run(cls, torch.zeros(n_rows), epochs, seed, seed + 1), n_rows)
    with _check(label, "transform keeps shape and dtype, repeatable, input unchanged"):
        x = torch.randn(n_rows, 3, generator=torch.Generator().manual_seed(seed))
        x[:, 2] = (x[:, 2] > 0).float()
        before, curriculum = x.clone(), cls(difficulty.numpy(), epochs)
        for epoch in range(epochs):
            out, again = (curriculum.transform(x, epoch, torch.Generator().manual_seed(seed))
                          for _ in range(2))
            _require(out.shape == x.shape and out.dtype == x.dtype and _finite(out),
                     f"epoch {epoch}: shape {tuple(out.shape)} {out.dtype}, or not finite")
            _require(torch.equal(out, again) and torch.equal(x, before), f"epoch {epoch}: "
                     "the same seed gave other inputs, or transform modified its input")
    order = getattr(cls, "order", None)
    if order in ("easy_first", "hard_first"):
        with _check(label, f"orders {order.replace('_', ' ')}"):
            first = float(difficulty[runs[0]].mean())
            overall = float(difficulty.mean())
            easier = first < overall
            _require(easier if order == "easy_first" else first > overall,
                     f"epoch 0 rows have mean difficulty {first:.3f}, overall {overall:.3f}")
    if getattr(cls, "matches_vanilla_budget", False):
        with _check(label, "sees as many rows as a vanilla run"):
            seen, vanilla = sum(int(r.numel()) for r in runs), epochs * n_rows
            _require(abs(seen - vanilla) <= 0.25 * vanilla,
                     f"{seen} rows over {epochs} epochs, vanilla sees {vanilla} (tolerance 25%)")
