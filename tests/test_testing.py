"""check_component catches broken components and names the failed check."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from autodistill.components import Augmentation, Curriculum, KDLoss, MIObjective
from autodistill.params import Float
from autodistill.testing import check_component


def _fails(cls, check: str, **kwargs) -> str:
    with pytest.raises(AssertionError) as info:
        check_component(cls, **kwargs)
    message = str(info.value)
    assert f"'{cls.name}'" in message and f"check '{check}'" in message, message
    return message


# --- well-behaved components that the broken ones below derive from ------------------

class GoodLoss(KDLoss):
    """Plain KL between softened distributions."""

    name = "good_loss"
    params = {"temperature": Float(1.0, 8.0, default=2.0)}

    def forward(self, student_logits, teacher_logits, targets):
        return F.kl_div(F.log_softmax(student_logits / self.temperature, 1),
                        F.log_softmax(teacher_logits / self.temperature, 1),
                        reduction="batchmean", log_target=True)


class GoodAugmentation(Augmentation):
    """Gaussian noise drawn from the generator."""

    name = "good_aug"

    def augment(self, x, y, generator):
        return x + 0.1 * torch.randn(x.shape, generator=generator, dtype=x.dtype)


class GoodCurriculum(Curriculum):
    """Every row, shuffled."""

    name = "good_curriculum"

    def indices(self, epoch, generator, student_loss=None):
        return torch.randperm(self.n_rows, generator=generator)


class CorrelationMI(MIObjective):
    """A parameter-free dependence readout: the strongest correlation of each teacher feature."""

    name = "correlation_mi"
    params = {"weight": Float(0.1, 1.0, default=1.0)}

    def _correlation(self, s, t):
        s = (s - s.mean(0)) / (s.std(0, correction=0) + 1e-6)
        t = (t - t.mean(0)) / (t.std(0, correction=0) + 1e-6)
        return (s.T @ t / s.shape[0]).abs().amax(0).mean()

    def forward(self, student_hidden, teacher_hidden):
        return -self._correlation(student_hidden, teacher_hidden)


def test_well_behaved_components_pass():
    for cls in (GoodLoss, GoodAugmentation, GoodCurriculum, CorrelationMI):
        check_component(cls)


# --- broken components -------------------------------------------------------------

def test_a_kd_loss_returning_nan_fails():
    class NaNLoss(GoodLoss):
        """Returns NaN."""

        name = "nan_loss"

        def forward(self, student_logits, teacher_logits, targets):
            return student_logits.sum() * float("nan")

    assert "nan" in _fails(NaNLoss, "finite scalar loss").lower()


def test_a_kd_loss_returning_a_vector_fails():
    class RowLoss(GoodLoss):
        """Forgets to reduce over the batch."""

        name = "row_loss"

        def forward(self, student_logits, teacher_logits, targets):
            return F.cross_entropy(student_logits, targets, reduction="none")

    _fails(RowLoss, "finite scalar loss")


def test_a_kd_loss_rewarding_distance_from_the_teacher_fails():
    class AntiLoss(GoodLoss):
        """Minus the KL: smallest far from the teacher."""

        name = "anti_loss"

        def forward(self, student_logits, teacher_logits, targets):
            return -super().forward(student_logits, teacher_logits, targets)

    _fails(AntiLoss, "smallest when the student equals the teacher")


def test_an_augmentation_changing_the_shape_fails():
    class DropsRow(GoodAugmentation):
        """Loses the last row."""

        name = "drops_row"

        def augment(self, x, y, generator):
            return super().augment(x, y, generator)[:-1]

    assert "shape" in _fails(DropsRow, "keeps shape, dtype and device; finite")


def test_an_augmentation_ignoring_the_generator_fails():
    class GlobalNoise(GoodAugmentation):
        """Draws from the global RNG."""

        name = "global_noise"

        def augment(self, x, y, generator):
            return x + 0.1 * torch.rand(x.shape, dtype=x.dtype)

    _fails(GlobalNoise, "repeatable under a seeded generator")


def test_an_augmentation_modifying_its_input_fails():
    class InPlace(GoodAugmentation):
        """Adds noise in place."""

        name = "in_place"

        def augment(self, x, y, generator):
            return x.add_(torch.randn(x.shape, generator=generator, dtype=x.dtype))

    _fails(InPlace, "does not modify its input in place")


def test_an_augmentation_changing_the_dtype_fails():
    class Float32Only(GoodAugmentation):
        """Casts to float32."""

        name = "float32_only"

        def augment(self, x, y, generator):
            return super().augment(x, y, generator).float()

    _fails(Float32Only, "float64 batch")


def test_a_curriculum_with_out_of_range_indices_fails():
    class OffByOne(GoodCurriculum):
        """Indices from 1 to N."""

        name = "off_by_one"

        def indices(self, epoch, generator, student_loss=None):
            return super().indices(epoch, generator) + 1

    assert "outside [0, 40)" in _fails(OffByOne, "valid indices every epoch")


def test_a_curriculum_returning_float_indices_fails():
    class FloatRows(GoodCurriculum):
        """Float indices."""

        name = "float_rows"

        def indices(self, epoch, generator, student_loss=None):
            return super().indices(epoch, generator).float()

    _fails(FloatRows, "valid indices every epoch")


def test_a_curriculum_claiming_easy_first_but_going_hard_first_fails():
    class Liar(GoodCurriculum):
        """Hardest half first."""

        name = "liar"
        order = "easy_first"

        def indices(self, epoch, generator, student_loss=None):
            return torch.argsort(self.difficulty, descending=True)[: self.n_rows // 2]

    _fails(Liar, "orders easy first")


def test_a_curriculum_claiming_the_vanilla_budget_but_starving_fails():
    class Starves(GoodCurriculum):
        """One row per epoch."""

        name = "starves"
        matches_vanilla_budget = True

        def indices(self, epoch, generator, student_loss=None):
            return super().indices(epoch, generator)[:1]

    _fails(Starves, "sees as many rows as a vanilla run")


def test_an_mi_estimate_falling_with_the_true_mi_fails():
    class Backwards(CorrelationMI):
        """An estimate that falls as dependence grows."""

        name = "backwards"

        @torch.no_grad()
        def estimate(self, student_hidden, teacher_hidden):
            return float(1.0 - self._correlation(student_hidden, teacher_hidden))

    _fails(Backwards, "estimate rises with the true MI")


def test_an_infonce_style_estimate_above_log_k_fails():
    class Unbounded(CorrelationMI):
        """Claims the log K bound but scales past it."""

        name = "unbounded"
        log_batch_bounded = True

        @torch.no_grad()
        def estimate(self, student_hidden, teacher_hidden):
            return float(100.0 * self._correlation(student_hidden, teacher_hidden))

    assert "log K" in _fails(Unbounded, "estimate rises with the true MI")


def test_a_default_out_of_range_fails():
    class BadDefault(GoodLoss):
        """Default temperature above its range."""

        name = "bad_default"
        params = {"temperature": Float(1.0, 8.0, default=20.0)}

    assert "outside" in _fails(BadDefault, "params declaration")


def test_a_missing_docstring_and_name_fail():
    class NoDoc(GoodLoss):
        name = "no_doc"

    _fails(NoDoc, "docstring")

    class NoName(GoodLoss):
        """Inherits its parent's name, which would clash with it in the registry."""

    with pytest.raises(AssertionError, match="check 'name'.*inherits"):
        check_component(NoName)


def test_a_component_that_raises_is_reported_with_the_exception():
    class Raises(GoodLoss):
        """Raises inside forward."""

        name = "raises"

        def forward(self, student_logits, teacher_logits, targets):
            raise RuntimeError("boom")

    assert "RuntimeError: boom" in _fails(Raises, "finite scalar loss")


def test_a_class_of_no_family_fails():
    with pytest.raises(AssertionError, match="check 'family'"):
        check_component(dict)


def test_the_global_rng_is_left_as_it_was():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    check_component(GoodAugmentation)
    assert torch.equal(torch.rand(3), expected)


# --- student families -----------------------------------------------------------------

def _student_fails(cls, check: str, args: str = "8", **kwargs) -> str:
    from autodistill.testing import check_student

    with pytest.raises(AssertionError) as info:
        check_student(cls, args, **kwargs)
    message = str(info.value)
    assert f"'{cls.name}'" in message and f"check '{check}'" in message, message
    return message


def _family(module_factory, name="tiny", count=None):
    from autodistill.students import StudentFamily, parse_widths

    class Tiny(StudentFamily):
        """A one-hidden-layer test family."""

        format = f"{name}:WIDTH"

        def __init__(self, args):
            super().__init__(args)
            (self.width,) = parse_widths(args)

        def build(self, n_features, n_classes):
            return module_factory(n_features, n_classes, self.width)

        def count_params(self, n_features, n_classes):
            return count(n_features, n_classes, self.width) if count else None

    Tiny.name = name
    return Tiny


class _Tiny(torch.nn.Module):
    def __init__(self, n_features, n_classes, width):
        super().__init__()
        self.body, self.head = torch.nn.Linear(n_features, width), torch.nn.Linear(width, n_classes)
        self.hidden_dim, self.n_features, self.n_classes = width, n_features, n_classes

    def forward(self, x):
        hidden = torch.tanh(self.body(x))
        return self.head(hidden), hidden


def test_the_builtin_and_a_well_behaved_student_family_pass():
    from autodistill.plugins.students import MLPStudent
    from autodistill.testing import check_student

    check_student(MLPStudent, "16,8", bad_args=("", "x", "0", "16,-1"))
    check_student(_family(_Tiny, count=lambda d, c, w: (d + 1) * w + (w + 1) * c), "8")


def test_a_student_returning_logits_alone_fails():
    class LogitsOnly(_Tiny):
        def forward(self, x):
            return super().forward(x)[0]

    _student_fails(_family(LogitsOnly), "forward returns (logits, hidden) of the right "
                   "shapes, finite")


def test_a_student_whose_hidden_width_lies_fails():
    class Liar(_Tiny):
        def __init__(self, n_features, n_classes, width):
            super().__init__(n_features, n_classes, width)
            self.hidden_dim = width + 1

    _student_fails(_family(Liar), "forward returns (logits, hidden) of the right shapes, finite")


def test_a_wrong_parameter_count_fails():
    _student_fails(_family(_Tiny, count=lambda d, c, w: 1), "count_params matches the module")


def test_a_student_with_a_dead_parameter_fails():
    class Dead(_Tiny):
        def __init__(self, n_features, n_classes, width):
            super().__init__(n_features, n_classes, width)
            self.unused = torch.nn.Linear(2, 2)

    _student_fails(_family(Dead), "gradients reach every parameter")


def test_a_student_initialised_outside_the_global_generator_fails():
    class Fixed(_Tiny):
        def __init__(self, n_features, n_classes, width):
            super().__init__(n_features, n_classes, width)
            gen = torch.Generator().manual_seed(123)
            with torch.no_grad():
                for p in self.parameters():
                    p.copy_(torch.randn(p.shape, generator=gen))

    _student_fails(_family(Fixed), "initialisation repeatable under a seed, different "
                   "across seeds")


def test_a_family_accepting_any_spec_fails():
    class Lenient(_family(_Tiny)):
        """Accepts garbage."""

        def __init__(self, args):
            self.width = 8

    Lenient.name = "lenient"
    Lenient.format = "lenient:WIDTH"
    _student_fails(Lenient, "refuses the arguments '\\x00not a spec'")
