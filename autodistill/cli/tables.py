"""Tables that stay readable in a narrow terminal: long names wrap, they are never cut."""

from __future__ import annotations

from typing import Any

from rich.table import Table as RichTable

__all__ = ["Table"]


class Table(RichTable):
    """A rich table whose columns fold a word that does not fit onto the next line
    (``overflow="fold"``) instead of cutting it to ``iris-s…``."""

    def add_column(self, *args: Any, **kwargs: Any) -> None:
        """As :meth:`rich.table.Table.add_column`, folding by default."""
        kwargs.setdefault("overflow", "fold")
        super().add_column(*args, **kwargs)
