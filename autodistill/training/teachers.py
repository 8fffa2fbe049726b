"""Teachers: their logits and hidden features for every split, computed once and cached.

``auto`` trains a wide :class:`~autodistill.training.students.MLP` on the training split with
the engine that trains students (:func:`~autodistill.training.engine.train_population`, a
population of one without a teacher: early stopping on validation accuracy) and averages its class probabilities with the ``gbdt``
teacher's (:mod:`autodistill.training.gbdt_teacher`), keeping the MLP's hidden features
(``auto:mlp`` is the MLP alone); ``PATH.pt`` loads a TorchScript module that returns
logits or ``(logits, hidden)``. Either way the outputs on the dataset's own rows are
computed once per (data fingerprint, split seed, teacher config), kept in memory for the
process and on disk for every other process on the machine (written atomically, read
with ``torch.load(..., weights_only=True)``: nothing is ever unpickled). Only augmented
rows need a teacher forward pass later: :meth:`TeacherOutputs.predict`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from autodistill import progress
from autodistill._locks import file_lock, lock_path
from autodistill._stamps import file_digest
from autodistill.errors import TeacherError
from autodistill.metrics import balanced_accuracy
from autodistill.paths import cache_dir, write_atomically
from autodistill.training.engine import Member, default_device, train_population
from autodistill.training.mcmi import split_teacher_spec, teacher_loss, teacher_name
from autodistill.training.pipeline import Pipeline
from autodistill.training.students import build_module
from autodistill.training.teacher_outputs import (
    SPLITS,
    TeacherOutputs,
    _outputs_on,
    difficulty,
)

if TYPE_CHECKING:
    from autodistill.data.dataset import Dataset

__all__ = [
    "TeacherOutputs",
    "AUTO_CONFIG",
    "teacher_versions",
    "get_teacher",
    "teacher_at_chance",
    "default_device",
    "difficulty",
    "clear_memo",
]

log = logging.getLogger(__name__)

#: Hyperparameters of the ``auto`` teacher's MLP; part of its cache key. ``version`` 2:
#: trained by the engine (:mod:`autodistill.training.engine`) rather than a loop of its own.
AUTO_CONFIG: dict[str, Any] = {
    "kind": "mlp", "hidden": [256, 256], "lr": 1e-3, "weight_decay": 1e-4,
    "batch_size": 128, "max_epochs": 200, "patience": 15, "version": 2,
}
#: What ``auto`` adds to its MLP (``""``: nothing): the mean of its class probabilities and
#: the ``gbdt`` teacher's (benchmarks/bench_teachers.py: on 20 real tables the mean test
#: accuracy went from 0.726 to 0.735 and the validation log-loss from 0.629 to 0.594).
AUTO_ENSEMBLE = "gbdt"
_FORMS = ("'auto', 'gbdt', a TorchScript file PATH.pt, sklearn:PATH (skops), onnx:PATH or "
          "outputs:PATH (.csv/.npy)")
_MEMO: dict[tuple[str, str], TeacherOutputs] = {}
State = dict[str, torch.Tensor] | None  # a state dict to cache, or None


def teacher_versions(spec: str) -> dict[str, int]:
    """The configuration versions behind a built-in teacher ``spec`` (``{"mlp": 2,
    "gbdt": 1}`` for ``auto``), so stored results say which teacher produced them; empty
    for a user's file."""
    from autodistill.training.gbdt_teacher import GBDT_CONFIG

    text = split_teacher_spec(str(spec).strip())[0].lower()
    versions = {"auto": {"mlp": AUTO_CONFIG["version"], "gbdt": GBDT_CONFIG["version"]},
                "auto:mlp": {"mlp": AUTO_CONFIG["version"]},
                "gbdt": {"gbdt": GBDT_CONFIG["version"]}}
    return dict(versions.get(text, {}))


def clear_memo() -> None:
    """Forget the in-process teachers (the disk cache stays)."""
    _MEMO.clear()


def get_teacher(spec: str, dataset: Dataset, *, device: torch.device | None = None,
                seed: int = 0) -> TeacherOutputs:
    """Return the teacher's outputs on ``dataset``, training or loading it at most once.

    Args:
        spec: ``"auto"`` (MLP + gbdt), ``"auto:mlp"``, ``"gbdt"`` (see
            :mod:`autodistill.training.gbdt_teacher`) or a path to a TorchScript ``.pt`` file.
        dataset: The loaded dataset.
        device: Where the teacher runs; :func:`default_device` when ``None``.
        seed: Seed of the ``auto`` teacher's training (part of its cache key).

    Raises:
        TeacherError: for an unknown spec, an unloadable file or a teacher whose output
            width differs from the dataset's class count.
    """
    device = torch.device(device) if device is not None else default_device()
    text, mode = split_teacher_spec(str(spec).strip())  # "auto+mcmi": see training.mcmi
    if text.lower() in ("auto", "auto:mlp"):
        config = {**AUTO_CONFIG, "seed": int(seed), **mode}
        mlp = _cached(_cache_key(dataset, config), device,
                      lambda: _train_auto(dataset, config, device),
                      _load_auto(dataset, config, device), teacher_name(config, "auto:mlp"))
        if text.lower() == "auto:mlp" or not AUTO_ENSEMBLE:
            return _warn_if_chance(mlp, dataset)
        from autodistill.training.gbdt_teacher import ensemble

        memo_key = (_cache_key(dataset, {**config, "ensemble": AUTO_ENSEMBLE}), str(device))
        if memo_key in _MEMO:
            return TeacherOutputs(**{**_MEMO[memo_key].__dict__, "seconds": 0.0,
                                     "from_cache": True})
        # not get_teacher("gbdt"): a part at chance is not the teacher the user asked for,
        # whose own warning follows
        outputs = ensemble(mlp, _gbdt_teacher(dataset, device, seed), dataset,
                           teacher_name(config, "auto"))
        _MEMO[memo_key] = outputs
        return _warn_if_chance(outputs, dataset)
    if text.lower() == "gbdt":
        return _warn_if_chance(_gbdt_teacher(dataset, device, seed), dataset)
    from autodistill.training import user_teachers

    if text.split(":", 1)[0].lower() in user_teachers.KINDS:
        return _cached(_cache_key(dataset, user_teachers.file_config(text)), device,
                       lambda: (user_teachers.user_teacher(text, dataset), None),
                       lambda state: None, text)
    path_text, _, query = text.partition("?")
    path = Path(path_text).expanduser()
    if path.suffix.lower() in (".pt", ".pth"):
        if not path.is_file():
            raise TeacherError(f"--teacher '{text}': no such file; pass {_FORMS}")
        raw = query.replace(" ", "") == "input=raw"
        if query and not raw and query.replace(" ", "") != "input=encoded":
            raise TeacherError(f"--teacher '{text}': unknown option '{query}'; use "
                               "?input=raw or ?input=encoded")
        module = _load_script(path, device)
        config = {"kind": "torchscript", "sha256": file_digest(path), "raw": raw}
        outputs = _cached(_cache_key(dataset, config), device,
                          lambda: _run_module(module, dataset, text, raw),
                          lambda state: None if raw else module, text)
        return _warn_if_chance(outputs, dataset)
    if path.is_file():
        raise TeacherError(f"--teacher '{text}': it is {user_teachers.describe_file(path)}")
    raise TeacherError(f"--teacher '{text}': unknown teacher; pass {_FORMS}")


def _gbdt_teacher(dataset: Dataset, device: torch.device, seed: int) -> TeacherOutputs:
    """The ``gbdt`` teacher's outputs, trained or read from the cache (without a warning)."""
    from autodistill.training.gbdt_teacher import GBDT_CONFIG, load_gbdt, train_gbdt

    config = {**GBDT_CONFIG, "seed": int(seed)}
    return _cached(_cache_key(dataset, config), device,
                   lambda: train_gbdt(dataset, config), load_gbdt(dataset, config), "gbdt")


#: Fewer training rows than this in a class, and a teacher at chance is blamed on too few
#: rows; with more of every class, on the columns.
_FEW_ROWS_PER_CLASS = 30


def _chance_levels(outputs: TeacherOutputs, dataset: Dataset, split: str = "test"
                   ) -> tuple[float, float, float] | None:
    """``(majority share, balanced accuracy, balanced chance)`` on ``split`` when the
    teacher's accuracy there is no better than the majority share; else None."""
    y = np.asarray(getattr(dataset, f"y_{split}"))
    if len(y) == 0:
        return None
    chance = max(float(np.bincount(y).max() / len(y)), 1.0 / max(dataset.n_classes, 1))
    accuracy = outputs.accuracy if split == "test" else outputs.valid_accuracy
    if accuracy > chance:
        return None
    return chance, balanced_accuracy(outputs.logits[split], y), 1.0 / len(np.unique(y))


def teacher_at_chance(outputs: TeacherOutputs, dataset: Dataset, split: str = "valid") -> bool:
    """Whether the teacher is no better than chance on ``split`` by accuracy and by
    balanced accuracy alike: its soft targets then carry nothing the labels do not, so a
    gain predicted for distilling it cannot come from what it knows. ``recommend`` reads
    it on validation, where it chooses (the warning speaks of test, which it reports)."""
    levels = _chance_levels(outputs, dataset, split)
    return levels is not None and levels[1] <= levels[2] + 1e-9


def _chance_warning(outputs: TeacherOutputs, dataset: Dataset) -> str | None:
    """The warning for a teacher no better than always answering the most frequent class
    (a student distilled from it learns nothing the labels do not already say), or None.

    Judged by accuracy and by balanced accuracy: on an imbalanced table a teacher can trail
    the majority class in accuracy while telling the classes apart (balanced accuracy above
    chance), which is worth distilling under ``--metric balanced_accuracy``; its warning
    says so rather than "no better than chance". At chance, the likely cause is named: too
    few rows of some class, or, with enough of every class, columns that say little.
    """
    levels = _chance_levels(outputs, dataset)
    if levels is None:
        return None
    chance, balanced, balanced_chance = levels
    head = f"teacher '{outputs.spec}' reaches test accuracy {outputs.accuracy:.3f} on {dataset.name}"
    if balanced > balanced_chance + 1e-9:
        return (f"{head}, no better than always the most frequent class ({chance:.3f}), though "
                f"its balanced accuracy {balanced:.3f} is above chance ({balanced_chance:.3f}): "
                f"what it tells apart counts under --metric balanced_accuracy, not accuracy; "
                f"or pass another --teacher")
    rarest = int(np.bincount(dataset.y_train, minlength=dataset.n_classes).min())
    if rarest < _FEW_ROWS_PER_CLASS:
        cause = (f"{dataset.n_rows} rows for {dataset.n_classes} classes (the rarest with "
                 f"{rarest} training row{'' if rarest == 1 else 's'}) may be too few to learn "
                 f"from; add rows per class")
    else:  # enough rows of every class: what is missing is signal, not rows
        cause = (f"with {rarest} or more training rows of every class, the feature columns "
                 f"may say little about the target; check the columns")
    return (f"{head}, no better than chance ({chance:.3f}, always the most frequent class; "
            f"balanced accuracy {balanced:.3f}): {cause} or pass another --teacher")


def _warn_if_chance(outputs: TeacherOutputs, dataset: Dataset) -> TeacherOutputs:
    """Log :func:`_chance_warning` when there is one; return ``outputs``."""
    warning = _chance_warning(outputs, dataset)
    if warning is not None:
        log.warning(warning)
    return outputs


# --------------------------------------------------------------------------- caching


def _cache_key(dataset: Dataset, config: dict[str, Any]) -> str:
    from autodistill.data.table_files import CSV_READER_VERSION  # loaded with the dataset

    # the encoded columns too: a teacher takes encoded rows, so a change in how a column is
    # typed (a date, an identifier left out) must not meet a teacher cached before it
    layout = hashlib.sha256("\n".join(dataset.feature_names).encode()).hexdigest()
    payload = {"fingerprint": dataset.fingerprint, "split_seed": dataset.split_seed,
               "config": config, "torch": torch.__version__.split("+")[0],
               "reader": CSV_READER_VERSION, "columns": layout}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _cached(key: str, device: torch.device, compute: Callable[[], tuple[TeacherOutputs, State]],
            load_module: Callable[[State], nn.Module], spec: str) -> TeacherOutputs:
    """Memo, then disk, then ``compute()``, which returns the outputs and the state dict to
    store (``None`` when the module comes from elsewhere, e.g. a TorchScript file).
    ``load_module(state)`` rebuilds the module for outputs read from disk."""
    memo_key = (key, str(device))
    if memo_key in _MEMO:
        outputs = _MEMO[memo_key]
        return TeacherOutputs(**{**outputs.__dict__, "seconds": 0.0, "from_cache": True})
    started = time.perf_counter()
    directory = cache_dir() / "teachers"
    outputs = _read_cache(directory, key, spec, load_module)
    if outputs is None:  # two commands at once train it once: one waits, then reads
        with file_lock(lock_path(f"teacher:{key}")):
            outputs = _read_cache(directory, key, spec, load_module)
            if outputs is None:
                outputs, state = compute()
                _write_cache(directory, key, outputs, state)
    outputs.seconds = time.perf_counter() - started
    _MEMO[memo_key] = outputs
    return outputs


def _read_cache(directory: Path, key: str, spec: str,
                load_module: Callable[[State], nn.Module]) -> TeacherOutputs | None:
    meta_path = directory / f"{key}.json"
    if not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        tensors = torch.load(directory / f"{key}.outputs.pt", map_location="cpu",
                             weights_only=True)
        state = None
        if meta.get("has_state"):
            state = torch.load(directory / f"{key}.state.pt", map_location="cpu",
                               weights_only=True)
        module = load_module(state)
        logits = {s: tensors[f"logits.{s}"] for s in SPLITS}
        hidden = {s: tensors[f"hidden.{s}"] for s in SPLITS} if meta["has_hidden"] else None
    except Exception as exc:  # torch.load raises many types on a truncated file
        log.warning("teacher cache %s is unreadable (%s); recomputing", key[:12], exc)
        return None
    log.info("teacher %s loaded from cache %s", spec, key[:12])
    return TeacherOutputs(logits=logits, hidden=hidden, accuracy=meta["accuracy"],
                          valid_accuracy=meta["valid_accuracy"], params=meta["params"],
                          spec=spec, seconds=0.0, module=module, from_cache=True)


def _write_cache(directory: Path, key: str, outputs: TeacherOutputs, state: State) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {f"logits.{s}": outputs.logits[s] for s in SPLITS}
        if outputs.hidden is not None:
            tensors.update({f"hidden.{s}": outputs.hidden[s] for s in SPLITS})
        write_atomically(directory / f"{key}.outputs.pt", lambda p: torch.save(tensors, p))
        if state is not None:
            write_atomically(directory / f"{key}.state.pt", lambda p: torch.save(state, p))
        meta = {"accuracy": outputs.accuracy, "valid_accuracy": outputs.valid_accuracy,
                "params": outputs.params, "spec": outputs.spec,
                "has_hidden": outputs.hidden is not None, "has_state": state is not None}
        # the JSON goes last: its presence says the tensors beside it are complete
        write_atomically(directory / f"{key}.json",
                     lambda p: Path(p).write_text(json.dumps(meta, indent=1)))
    except OSError as exc:  # a read-only cache costs speed, not correctness
        log.warning("cannot write the teacher cache in %s (%s)", directory, exc)


# --------------------------------------------------------------------------- running


def _load_script(path: Path, device: torch.device) -> nn.Module:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated
            return torch.jit.load(str(path), map_location=device)
    except Exception:  # say what the file is, not torch's "corrupted checkpoint"
        from autodistill.training.user_teachers import describe_file

        raise TeacherError(f"--teacher '{path}': not a TorchScript module: it is "
                           f"{describe_file(path)}") from None


def _run_module(module: nn.Module, dataset: Dataset, spec: str,
                raw: bool) -> tuple[TeacherOutputs, State]:
    """A TorchScript teacher on the encoded features or (``raw``) the raw numeric columns;
    a raw-input teacher cannot label augmented (encoded) rows, so it keeps no module."""
    from autodistill.training.user_teachers import check_teacher, hint_raw_input, raw_numeric_inputs

    if raw:
        outputs = _outputs_on(module, dataset, spec, raw_numeric_inputs(dataset, spec))
        outputs.module = None
    else:
        outputs = _outputs_on(module, dataset, spec)
        hint_raw_input(module, outputs, dataset, spec)
    check_teacher(outputs, dataset)
    return outputs, None


# --------------------------------------------------------------------------- auto teacher


def _load_auto(dataset: Dataset, config: dict[str, Any],
               device: torch.device) -> Callable[[State], nn.Module]:
    def load(state: State) -> nn.Module:
        if state is None:
            raise ValueError("the cached auto teacher has no weights")
        # A wide member of the built-in mlp student family, built through the registry.
        spec = "mlp:" + ",".join(str(int(w)) for w in config["hidden"])
        model = build_module(spec, dataset.n_features, dataset.n_classes)
        model.load_state_dict(state)
        return model.to(device).eval()
    return load


def _train_auto(dataset: Dataset, config: dict[str, Any],
                device: torch.device) -> tuple[TeacherOutputs, dict[str, torch.Tensor]]:
    """Train the wide MLP on train with the engine, as a student without a teacher: a
    population of one whose training settings are the config's, early stopping on
    validation accuracy, the best weights restored; in ``mcmi`` mode its label loss is
    :class:`~autodistill.training.mcmi.MCMILoss`."""
    best = -1.0

    def report(_member: int, epoch: int, valid: float) -> None:
        nonlocal best
        best = max(best, valid)
        if epoch + 1 < config["max_epochs"]:  # the end is reported once, below
            progress.report("teacher", epoch + 1, config["max_epochs"], "epoch", valid=valid,
                            best=best)

    pipeline = Pipeline.from_dict({"training": {
        "epochs": config["max_epochs"], "lr": config["lr"], "batch_size": config["batch_size"],
        "weight_decay": config["weight_decay"], "patience": config["patience"]}},
        source="the auto teacher's settings")
    member = Member(pipeline, int(config["seed"]), kd_loss=teacher_loss(config))
    width = ",".join(str(int(size)) for size in config["hidden"])
    with torch.random.fork_rng(devices=[]):  # the caller's random state is left as it was
        (result,) = train_population([member], dataset, None, student=f"mlp:{width}",
                                     device=device, on_epoch=report)
    if isinstance(result, BaseException):
        raise result
    progress.report("teacher", config["max_epochs"], config["max_epochs"], "epoch",
                    f"trained, {result.epochs_run} epochs", best=result.valid_accuracy)
    log.info("auto teacher: %d epochs, best valid accuracy %.4f at epoch %d",
             result.epochs_run, result.valid_accuracy, result.best_epoch + 1)
    model = result.student.to(device).eval()
    outputs = _outputs_on(model, dataset, teacher_name(config, "auto:mlp"))
    return outputs, {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
