"""``autodistill plugins``: what is installed, family by family, with declared params,
and the student families."""

from __future__ import annotations

import json

import typer
from rich.console import Console

from autodistill.cli.options import JsonOpt
from autodistill.cli.tables import Table


def _format_param(decl: dict) -> str:
    if decl["type"] == "categorical":
        return f"{{{', '.join(map(str, decl['choices']))}}} = {decl['default']}"
    scale = " log" if decl["log"] else ""
    return f"[{decl['low']}, {decl['high']}]{scale} = {decl['default']}"


def plugins_command(as_json: JsonOpt = False) -> None:
    """List plugins, their components per family with each component's params, and the
    student families (--student NAME:ARGS)."""
    from autodistill.families import FAMILIES
    from autodistill.registry.manager import get_registry
    from autodistill.training.mcmi import teacher_modes

    registry = get_registry()
    doc = registry.to_dict()
    doc["teacher_modes"] = teacher_modes()
    if as_json:
        typer.echo(json.dumps(doc))
        return
    console = Console()
    for family, title in FAMILIES.items():
        table = Table(title=title, title_justify="left")
        for column in ("component", "plugin", "description", "params"):
            table.add_column(column)
        for name in registry.names(family):
            info = registry.get(family, name)
            params = "\n".join(
                f"{p}: {_format_param(d.to_dict())}" for p, d in info.params.items()
            )
            table.add_row(name, info.plugin, info.cls.summary(), params or "-")
        console.print(table)
    students = Table(title="Student families (--student NAME:ARGS)", title_justify="left")
    for column in ("family", "plugin", "description", "format"):
        students.add_column(column)
    for name in sorted(registry.students):
        info = registry.students[name]
        students.add_row(name, info.plugin, info.cls.summary(), info.cls.format)
    console.print(students)
    modes = Table(title="Teacher modes (--teacher auto+MODE[:VALUE])", title_justify="left")
    for column in ("mode", "applies to", "description", "params"):
        modes.add_column(column)
    for mode, entry in doc["teacher_modes"].items():
        params = "\n".join(f"{p}: {_format_param(d)}" for p, d in entry["params"].items())
        modes.add_row(mode, ", ".join(entry["applies_to"]), entry["summary"], params)
    console.print(modes)
    for broken in registry.broken:
        console.print(f"[red]broken plugin[/red] {broken.name} ({broken.distribution}): {broken.error}")


def register(app: typer.Typer) -> None:
    """Add the ``plugins`` command to ``app``."""
    app.command("plugins", epilog="Example: autodistill plugins --json")(plugins_command)
