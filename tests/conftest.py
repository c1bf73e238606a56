"""Fixtures shared by both tiers."""
import os
import sys
from collections import Counter

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


class CallCounter:
    """Counts botocore API calls (service, operation) made while it is active."""

    def __init__(self):
        self.calls: list[tuple[str, str]] = []

    def by_service(self, service: str) -> list[str]:
        return [op for svc, op in self.calls if svc == service]

    def counts(self) -> Counter:
        return Counter(self.calls)

    def reset(self) -> None:
        self.calls.clear()


@pytest.fixture
def api_calls(monkeypatch):
    """Record every botocore API call; PynamoDB and boto3 both go through BaseClient._make_api_call."""
    from botocore.client import BaseClient
    counter = CallCounter()
    original = BaseClient._make_api_call

    def counting(self, operation_name, api_params):
        counter.calls.append((self.meta.service_model.service_name, operation_name))
        return original(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, '_make_api_call', counting)
    return counter


# The in-process tiers (unit, conformance) each define ``aws``: the table and bucket, and fresh clients.

def provisioned():
    """The table and the bucket for the current environment; yields the settings.

    The app's clients are kept from test to test, as in a warm Lambda container: moto's
    mock intercepts clients made before it started, and a changed endpoint or table gets
    new ones (aws.s3 and models.bind key them by configuration). Tests of a cold start
    clear them explicitly.
    """
    from chalicelib import config
    from scripts.bootstrap import ensure_bucket, ensure_table
    s = config.settings()
    ensure_table(s)
    ensure_bucket(s)
    yield s


@pytest.fixture
def client(aws):
    """chalice.test.Client on a stage with no environment of its own: the test's environment rules."""
    from chalice.test import Client

    import app
    with Client(app.app, stage_name='unit') as c:
        yield c


@pytest.fixture
def owner_key(aws):
    """An API key for owner 'alice'."""
    from chalicelib import auth
    return auth.mint('alice')[0]


@pytest.fixture
def other_key(aws):
    """An API key for owner 'mallory'."""
    from chalicelib import auth
    return auth.mint('mallory')[0]


@pytest.fixture
def s3(aws):
    """The service's own S3 client, as configured for this tier."""
    from chalicelib import aws as clients
    return clients.s3(aws)
