"""How long a wide table takes to load: 20 rows x 10,000 and x 100,000 numeric columns.

Prints, for each width, the wall and CPU seconds of writing nothing but reading, typing,
splitting and encoding the CSV (``load_dataset``); the file is written beforehand.
Run: ``python benchmarks/bench_wide_table.py`` (issue 13 asks for seconds, not minutes).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_wide_csv(path: Path, columns: int, rows: int = 20, seed: int = 0) -> Path:
    """A CSV of ``rows`` x ``columns`` random floats and a two-class label column ``y``."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(rows, columns)).round(4)
    labels = np.arange(rows) % 2
    with open(path, "w") as handle:
        handle.write(",".join(f"c{i}" for i in range(columns)) + ",y\n")
        for row, label in zip(values, labels, strict=True):
            handle.write(",".join(map(str, row)) + f",{label}\n")
    return path


def main(widths: tuple[int, ...] = (10_000, 100_000)) -> None:
    """Time ``load_dataset`` on each width and print one line per width."""
    from autodistill.data.dataset import load_dataset

    with tempfile.TemporaryDirectory() as tmp:
        for width in widths:
            path = write_wide_csv(Path(tmp) / f"wide{width}.csv", width)
            wall, cpu = time.perf_counter(), time.process_time()
            dataset = load_dataset(str(path), target="y")
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(f"load_dataset 20 rows x {width:>7,} columns: {wall:6.2f} s wall, "
                  f"{cpu:6.2f} s CPU ({dataset.n_features:,} encoded features)")


if __name__ == "__main__":
    main(tuple(int(a) for a in sys.argv[1:]) or (10_000, 100_000))
