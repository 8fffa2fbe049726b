"""``python -m autodistill`` runs the CLI."""

from autodistill.cli import main

main()
