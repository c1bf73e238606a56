"""LocalStack's S3, alone, as `make run`, the e2e tier and the conformance tier start it.

moto's S3 checks no presigned signature, signed header, length, checksum or conditional write;
LocalStack's S3 checks them all, so a developer sees on `make run` what AWS would refuse.
LocalStack runs in-process from .venv-localstack (Python 3.13, `make localstack-venv`), without Docker.
"""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = os.path.join(ROOT, '.venv-localstack', 'bin', 'python')
ARGV = [PYTHON, '-m', 'localstack.runtime.main']
HEALTH_PATH = '/_localstack/health'
# LocalStack checks a presigned signature against this secret only (or STS credentials of its own).
SECRET_ACCESS_KEY = 'test'


def environment(host: str, port: int, home: str, base: dict | None = None) -> dict:
    """The environment of a LocalStack serving S3 only on host:port, writing nothing outside ``home``."""
    env = {
        name: value
        for name, value in (os.environ if base is None else base).items()
        if not name.startswith(('AWS_', 'PYTHON', 'VIRTUAL_ENV', 'LOCALSTACK_'))
    }
    env.update(
        {
            'SERVICES': 's3',
            'GATEWAY_LISTEN': f'{host}:{port}',
            'DNS_ADDRESS': '0',
            'DISABLE_EVENTS': '1',
            'SKIP_SSL_CERT_DOWNLOAD': '1',
            'S3_SKIP_SIGNATURE_VALIDATION': '0',
            # Inside a container LocalStack would use the shared /var/lib/localstack; in host mode
            # everything it writes goes under FILESYSTEM_ROOT. CONFIG_DIR keeps ~/.localstack profiles out.
            'OVERRIDE_IN_DOCKER': '0',
            'FILESYSTEM_ROOT': os.path.join(home, 'filesystem'),
            'CONFIG_DIR': os.path.join(home, 'config'),
        }
    )
    return env


def s3_ready(health: dict) -> bool:
    """Whether an answer of HEALTH_PATH says S3 serves."""
    return health.get('services', {}).get('s3') in ('available', 'running')


def missing() -> str | None:
    """Why LocalStack cannot start here, or None."""
    if os.access(PYTHON, os.X_OK):
        return None
    return f'{PYTHON} is missing: run `make localstack-venv` (needs Python 3.13)'
