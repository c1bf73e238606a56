"""assetgate's command-line client."""

__version__ = '0.1.0'
