"""Hook specifications: the plugin author's manual.

A plugin is a module (or object) with functions marked ``@hookimpl`` and named after the
hooks below. It is found through the ``autodistill`` entry-point group::

    # pyproject.toml of your plugin
    [project.entry-points.autodistill]
    my_plugin = "my_package.my_module"

Every component hook receives a ``register`` callback and calls it once per component
class. The core owns validation: ``register`` checks the class derives from the family's
base, that its ``name`` is unique in the family (a clash names both plugins) and that its
``params`` declaration is valid. Built-in components are registered through exactly the
same hooks.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

__all__ = ["hookspec", "hookimpl", "PROJECT_NAME"]

PROJECT_NAME = "autodistill"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_kd_losses(register: Callable[[type], None]) -> None:
    """Register KD losses (subclasses of :class:`autodistill.components.KDLoss`).

    Called once, when the registry is first built. Call ``register(cls)`` for each
    class; return nothing. Example::

        @hookimpl
        def register_kd_losses(register):
            register(MyKDLoss)
    """


@hookspec
def register_mi_objectives(register: Callable[[type], None]) -> None:
    """Register MI objectives (subclasses of :class:`autodistill.components.MIObjective`).

    Called once, when the registry is first built. Call ``register(cls)`` for each
    class; return nothing. Example::

        @hookimpl
        def register_mi_objectives(register):
            register(MyCritic)
    """


@hookspec
def register_augmentations(register: Callable[[type], None]) -> None:
    """Register augmentations (subclasses of :class:`autodistill.components.Augmentation`).

    Called once, when the registry is first built. Call ``register(cls)`` for each
    class; return nothing. Example::

        @hookimpl
        def register_augmentations(register):
            register(MyAugmentation)
    """


@hookspec
def register_curricula(register: Callable[[type], None]) -> None:
    """Register curricula (subclasses of :class:`autodistill.components.Curriculum`).

    Called once, when the registry is first built. Call ``register(cls)`` for each
    class; return nothing. Example::

        @hookimpl
        def register_curricula(register):
            register(MyCurriculum)
    """


@hookspec
def register_students(register: Callable[[type], None]) -> None:
    """Register student families (subclasses of :class:`autodistill.students.StudentFamily`).

    Called once, when the registry is first built. Call ``register(cls)`` for each
    family; return nothing. A family's ``name`` is the prefix of ``--student NAME:ARGS``
    (the built-in ``mlp`` family is registered through this hook too); two plugins
    registering one name is an error naming both. Check a family with
    :func:`autodistill.testing.check_student`. Example::

        @hookimpl
        def register_students(register):
            register(MyStudentFamily)  # then: autodistill distill ... --student mine:8
    """


@hookspec
def register_evidence(register: Callable[[str], None]) -> None:
    """Register evidence for this plugin's components: what they scored on the
    knowledge base's tasks, so that the recommender can propose them.

    Called once, when the registry is first built. Call ``register(path)`` for each
    JSON-lines file that ``autodistill meta bench-component NAME --out FILE`` wrote (ship
    it as package data); return nothing. Its rows join the knowledge base in the user's
    database (marked with the plugin's name) and the meta-model learns from them; rows
    for tasks the installed knowledge base lacks are skipped. Example::

        from importlib import resources

        @hookimpl
        def register_evidence(register):
            register(str(resources.files("my_package") / "evidence.jsonl"))
    """


@hookspec
def register_commands(app) -> None:
    """Add commands to the ``autodistill`` CLI.

    Called when the CLI application is built, after the built-in commands are mounted.
    ``app`` is the root :class:`typer.Typer`; add commands with ``@app.command()`` or
    groups with ``app.add_typer(...)``. Example::

        @hookimpl
        def register_commands(app):
            @app.command()
            def hello():
                print("hello")
    """
