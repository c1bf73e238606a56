"""assetgate's Lambda code. Submodules load on first attribute access.

app.py does ``import chalicelib as lib`` and calls ``lib.tokens.redeem(...)``: the
import of PynamoDB and boto3 then happens on the first request that needs them, not
in the Lambda init phase of every cold start (PEP 562).
"""
import importlib


def __getattr__(name):
    if name.startswith('__'):
        raise AttributeError(name)
    return importlib.import_module(f'{__name__}.{name}')
