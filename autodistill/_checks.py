"""Shared helpers of the conformance checks: one named failure per check."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

__all__ = ["_check", "_require", "_finite"]


@contextmanager
def _check(label: str, check: str) -> Iterator[None]:
    """Turn a failure, or any exception the component raises, into one clear error."""
    try:
        yield
    except AssertionError as exc:
        raise AssertionError(f"{label} failed check '{check}': {exc}") from None
    except Exception as exc:
        raise AssertionError(
            f"{label} failed check '{check}': raised {type(exc).__name__}: {exc}"
        ) from exc


def _require(condition: Any, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _finite(value: torch.Tensor) -> bool:
    return bool(torch.isfinite(value).all())
