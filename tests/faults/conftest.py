"""In-process fault tier: storage faults injected below botocore's retries, on every route (fixtures in tests/conftest.py)."""
