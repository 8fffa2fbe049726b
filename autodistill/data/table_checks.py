"""Which catalogued real tables can serve as knowledge-base tasks, and the catalogue as
the Markdown table of ``studies/README.md``.

``python -m autodistill.data.table_checks`` lists the usable tables with their targets
(and every skipped one with its reason); ``--markdown`` prints the table.
"""

from __future__ import annotations

import argparse
import logging

import numpy as np

from autodistill.data.dataset import Dataset, load_dataset
from autodistill.data.real_tables import MAX_ROWS, MIN_ROWS, RealTable, catalogue, load_table
from autodistill.errors import DataError

__all__ = ["table_problem", "usable_tables", "markdown_table"]

log = logging.getLogger(__name__)

def _check(table: RealTable) -> tuple[Dataset | None, str | None]:
    """(the loaded task, None) or (None, why it cannot serve)."""
    try:
        features, _, _, _ = load_table(table.source, table.dataset, table.target)
        if not MIN_ROWS <= len(features) <= MAX_ROWS:
            return None, (f"{len(features)} rows with a target; the knowledge base takes "
                          f"{MIN_ROWS} to {MAX_ROWS:,}")
        return load_dataset(table.spec, target=table.target), None
    except DataError as exc:
        return None, str(exc)


def table_problem(table: RealTable) -> str | None:
    """Why ``table`` cannot serve as a knowledge-base classification task, or ``None``.

    Checks the row range (200 to 100,000 rows with a target) and everything
    :func:`autodistill.data.dataset.load_dataset` checks (a class with fewer than 2 rows, one
    class, a continuous target, no usable feature, a missing package).
    """
    return _check(table)[1]


def usable_tables(tables: list[RealTable] | None = None
                  ) -> tuple[list[RealTable], list[tuple[RealTable, str]]]:
    """Split ``tables`` (default: the catalogue) into usable ones and (table, reason) pairs
    for the others; every skip is logged with its reason."""
    usable, skipped = [], []
    for table, _, reason in _checked(tables):
        if reason is None:
            usable.append(table)
        else:
            skipped.append((table, reason))
    return usable, skipped


def _checked(tables: list[RealTable] | None):
    for table in catalogue() if tables is None else tables:
        dataset, reason = _check(table)
        if reason is not None:
            log.warning("skipping %s: %s", table.spec, reason)
        yield table, dataset, reason


def markdown_table(tables: list[RealTable] | None = None) -> str:
    """The catalogue as a Markdown table with rows, columns and classes measured by
    loading each table (skipped tables are listed after it with their reasons)."""
    lines = ["| name | source | rows | columns | classes | majority | target | licence |",
             "|---|---|---:|---:|---:|---:|---|---|"]
    skipped = []
    for table, ds, reason in _checked(tables):
        if ds is None:
            skipped.append((table, reason))
            continue
        counts = np.bincount(np.concatenate([ds.y_train, ds.y_valid, ds.y_test]))
        lines.append(f"| `{table.spec}` | {table.source} | {ds.n_rows} | "
                     f"{ds.info['n_raw_features']} | {ds.n_classes} | "
                     f"{counts.max() / counts.sum():.2f} | `{table.target}`: {table.note} | "
                     f"{table.licence} |")
    lines.append("")
    lines.append(f"{len(lines) - 3} usable tables; {len(skipped)} skipped.")
    lines.extend(f"- skipped `{t.spec}`: {reason}" for t, reason in skipped)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """``python -m autodistill.data.table_checks [--markdown]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true",
                        help="print the catalogue as the Markdown table of studies/README.md")
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown_table())
        return
    usable, skipped = usable_tables()
    for table in usable:
        print(f"{table.spec}\t{table.target}")
    for table, reason in skipped:
        print(f"SKIPPED {table.spec}\t{reason}")


if __name__ == "__main__":
    main()
