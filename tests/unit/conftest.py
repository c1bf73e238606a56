"""In-process tier: chalice.test.Client against moto's mock_aws (fixtures in tests/conftest.py)."""
