"""assetgate's Lambda code, in floors that import only downward: see docs/architecture in README."""
