"""assetgate's Lambda code, in floors that import only downward (docs/data-design.md, "Code layout")."""
