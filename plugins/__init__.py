"""Built-in components, one module per family, registered through the same hooks as third-party plugins."""
