"""Search spaces shipped with autodistill (YAML files)."""
