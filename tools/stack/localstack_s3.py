"""LocalStack's S3, alone, as `make run`, the e2e tier and the conformance tier start it.

moto's S3 checks no presigned signature, signed header, length, checksum or conditional write;
LocalStack's S3 checks them all, so a developer sees on `make run` what AWS would refuse.
LocalStack runs in-process from .venv-localstack (Python 3.13, `make localstack-venv`), without Docker.
"""

import os
import shutil

from tools import ROOT

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


# On its first request LocalStack builds an index of every AWS service's operations (a file in its cache
# directory, named after LocalStack's and botocore's versions). Built anew, it took 4-5 s and left LocalStack
# at 497 MiB of RSS instead of 161 MiB; so each LocalStack starts with the index an earlier one built, kept in
# the user's cache directory (shared by project copies; a new version builds and keeps its own).
SHARED_CACHE = os.path.join(
    os.environ.get('XDG_CACHE_HOME') or os.path.expanduser('~/.cache'), 'assetgate', 'localstack'
)
CATALOG_PREFIX = 'service-catalog-'


def _cache_of(home: str) -> str:
    return os.path.join(home, 'filesystem', 'var', 'lib', 'localstack', 'cache')


def seed_cache(home: str) -> None:
    """Give the LocalStack about to run in ``home`` the service index an earlier one built."""
    if os.path.isdir(SHARED_CACHE):
        os.makedirs(_cache_of(home), exist_ok=True)
        for name in os.listdir(SHARED_CACHE):
            if name.startswith(CATALOG_PREFIX):
                shutil.copyfile(os.path.join(SHARED_CACHE, name), os.path.join(_cache_of(home), name))


def keep_cache(home: str) -> None:
    """After LocalStack's first request: keep a service index that SHARED_CACHE lacks (whole, atomically)."""
    built = _cache_of(home)
    if not os.path.isdir(built):
        return
    os.makedirs(SHARED_CACHE, exist_ok=True)
    for name in os.listdir(built):
        if name.startswith(CATALOG_PREFIX) and not os.path.exists(os.path.join(SHARED_CACHE, name)):
            partial = os.path.join(SHARED_CACHE, f'.{name}.{os.getpid()}.partial')
            shutil.copyfile(os.path.join(built, name), partial)
            os.replace(partial, os.path.join(SHARED_CACHE, name))


def s3_ready(health: dict) -> bool:
    """Whether an answer of HEALTH_PATH says S3 serves."""
    return health.get('services', {}).get('s3') in ('available', 'running')


def missing() -> str | None:
    """Why LocalStack cannot start here, or None."""
    if os.access(PYTHON, os.X_OK):
        return None
    return f'{PYTHON} is missing: run `make localstack-venv` (needs Python 3.13)'
