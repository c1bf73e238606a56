"""In-process tier: chalice.test.Client against moto's mock_aws (fixtures in tests/conftest.py)."""

from tests.unit.cli_fake import cli_env, link_server, listener  # noqa: F401  (the CLI tests' fixtures)
