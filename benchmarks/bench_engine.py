"""Per-epoch time of the engine against a bare PyTorch loop doing the same work.

Both train the same student (mlp:16) on builtin:digits with the `hinton` loss (T=4,
alpha=0.9), Adam with the same lr and weight decay, batch size 128, cached teacher
logits, a shuffle per epoch and one validation pass per epoch, in the same process.
Prints the per-epoch times and the ratio engine/bare (goal: <= 1.2).

    python benchmarks/bench_engine.py [--epochs 60] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.nn import functional as F

from autodistill.data.dataset import load_dataset
from autodistill.training.engine import train_student
from autodistill.training.pipeline import Pipeline
from autodistill.training.students import build_student
from autodistill.training.teachers import get_teacher


def bare_loop(dataset, teacher, epochs: int, lr: float, weight_decay: float, batch_size: int,
              temperature: float, alpha: float, seed: int) -> float:
    """Hand-written Hinton KD; returns seconds per epoch."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    x = torch.as_tensor(dataset.X_train)
    y = torch.as_tensor(dataset.y_train)
    xv = torch.as_tensor(dataset.X_valid)
    yv = torch.as_tensor(dataset.y_valid)
    t = teacher.logits["train"]
    model = build_student("mlp:16", dataset.n_features, dataset.n_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    started = time.perf_counter()
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(y), generator=generator)
        for i in range(0, len(order), batch_size):
            rows = order[i:i + batch_size]
            logits, _ = model(x[rows])
            soft = F.kl_div(F.log_softmax(logits / temperature, 1),
                            F.log_softmax(t[rows] / temperature, 1),
                            reduction="batchmean", log_target=True)
            loss = (1 - alpha) * F.cross_entropy(logits, y[rows]) + alpha * temperature**2 * soft
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            float((model(xv)[0].argmax(1) == yv).float().mean())
    return (time.perf_counter() - started) / epochs


def engine_loop(dataset, teacher, pipeline: Pipeline, seed: int) -> float:
    """The engine on the same work; returns seconds per epoch."""
    result = train_student(pipeline, dataset, teacher, student="mlp:16", seed=seed, device="cpu")
    return result.seconds / result.epochs_run


def main() -> None:
    """Run both loops ``--repeats`` times, interleaved, and print the median ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    dataset = load_dataset("builtin:digits")
    teacher = get_teacher("auto", dataset, device=torch.device("cpu"))
    pipeline = Pipeline.from_dict({
        "kd_loss": {"name": "hinton", "params": {"temperature": 4.0, "alpha": 0.9}},
        # patience = epochs: both loops run every epoch.
        "training": {"epochs": args.epochs, "patience": 100, "batch_size": 128},
    })
    training = pipeline.training
    engine_loop(dataset, teacher, pipeline, 0)  # warm-up
    bare_times, engine_times = [], []
    for repeat in range(args.repeats):
        bare_times.append(bare_loop(dataset, teacher, args.epochs, training["lr"],
                                    training["weight_decay"], training["batch_size"],
                                    4.0, 0.9, repeat))
        engine_times.append(engine_loop(dataset, teacher, pipeline, repeat))
    bare, engine = statistics.median(bare_times), statistics.median(engine_times)
    print(f"bare   : {bare * 1e3:.2f} ms/epoch (median of {args.repeats})")
    print(f"engine : {engine * 1e3:.2f} ms/epoch (median of {args.repeats})")
    print(f"ratio engine/bare: {engine / bare:.3f}")


if __name__ == "__main__":
    main()
