"""The deployment package both deploy paths ship: byte-compiled for Python 3.11, botocore trimmed (issue 14).

Built by tools/deploy/cfn.py (the `make package` path) in tests/deploy/test_package.py's fixture; the
`make deploy` path is checked through chalice's own build stage, which `chalice deploy` runs.
"""

import importlib.util
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile

import pytest
from chalice.config import Config
from chalice.deploy import models
from chalice.deploy.deployer import create_build_stage
from chalice.deploy.swagger import SwaggerGenerator
from chalice.utils import UI, OSUtils

from chalicelib.storage import keys
from tests.deploy.conftest import aws_env, client
from tools import ROOT
from tools.deploy import lambda_package

MiB = 1024 * 1024
INVOKE = os.path.join(ROOT, 'tools', 'measure', 'lambda_invoke.py')  # by path: see its main()


@pytest.fixture(scope='module')
def deployment_zip(packaged):
    return packaged['dev'] / 'deployment.zip'


@pytest.fixture(scope='module')
def entries(deployment_zip) -> dict:
    with zipfile.ZipFile(deployment_zip) as z:
        return {name: z.read(name) for name in z.namelist()}


def test_every_py_in_the_zip_has_a_valid_unchecked_hash_pyc_where_python_3_11_looks(entries):
    sources = [name for name in entries if name.endswith('.py')]
    assert len(sources) > 200 and 'app.py' in sources and 'botocore/client.py' in sources
    for source in sources:
        cached = importlib.util.cache_from_source(source)  # <folder>/__pycache__/<name>.cpython-311.pyc
        assert cached in entries, source
        header = entries[cached][:16]
        assert header[:4] == importlib.util.MAGIC_NUMBER, source
        assert int.from_bytes(header[4:8], 'little') == 0b01, source  # hash-based, not checked against the source
        assert header[8:16] == importlib.util.source_hash(entries[source]), source


def test_zip_holds_no_pyc_without_its_source_and_no_other_python_versions_caches(entries):
    caches = [name for name in entries if '__pycache__' in name or name.endswith('.pyc')]
    assert caches and all(name.endswith('.cpython-311.pyc') for name in caches)
    sources = {importlib.util.source_from_cache(name) for name in caches}
    assert sources <= set(entries)


def test_botocore_and_boto3_data_hold_only_the_services_the_app_uses(entries):
    services = {name.split('/')[2] for name in entries if name.startswith('botocore/data/') and name.count('/') > 2}
    assert services == {'dynamodb', 's3', 'sts'}
    for needed in ('endpoints.json', 'partitions.json', 'sdk-default-configuration.json', '_retry.json'):
        assert f'botocore/data/{needed}' in entries, needed
    assert 'botocore/data/dynamodb/2012-08-10/service-2.json.gz' in entries
    resources = {name.split('/')[2] for name in entries if name.startswith('boto3/data/') and name.count('/') > 2}
    assert resources <= {'dynamodb', 's3', 'sts'} and resources


def test_zip_is_at_most_5_mib(deployment_zip):
    assert deployment_zip.stat().st_size <= 5 * MiB


def test_the_cfn_output_zip_is_the_cached_package_chalice_deploy_reuses(packaged):
    """chalice deploy's build stage reuses the rewritten zip under .chalice/deployments (no new build)."""
    project = packaged['dev'].parent.parent
    with open(project / '.chalice' / 'config.json') as f:
        config = Config(
            chalice_stage='dev', user_provided_params={'project_dir': str(project)}, config_from_disk=json.load(f)
        )
    resource = models.DeploymentPackage(filename=models.Placeholder.BUILD_STAGE)
    create_build_stage(OSUtils(), UI(), SwaggerGenerator('us-east-1', {}), config).execute(config, [resource])
    assert lambda_package.is_rewritten(resource.filename)
    assert open(resource.filename, 'rb').read() == (packaged['dev'] / 'deployment.zip').read_bytes()
    assert os.listdir(project / '.chalice' / 'deployments') == [os.path.basename(resource.filename)]


def test_rewrite_leaves_a_rewritten_zip_unchanged(deployment_zip, tmp_path):
    copy = tmp_path / 'again.zip'
    shutil.copy(deployment_zip, copy)
    lambda_package.rewrite(str(copy))
    assert copy.read_bytes() == deployment_zip.read_bytes()


@pytest.fixture
def seeded(moto_server, tmp_path):
    """A table, a bucket and an API key on the moto server; the environment to reach them."""
    env = {
        **aws_env(moto_server),
        'ASSETGATE_TABLE': 'pkg-test',
        'ASSETGATE_BUCKET': 'pkg-test',
        'ASSETGATE_REGION': 'us-east-1',
    }
    seed = (
        'from chalicelib import config\nfrom chalicelib.domain import auth\n'
        'from tools.deploy.bootstrap import ensure_bucket, ensure_table\n'
        's = config.settings(); ensure_table(s); ensure_bucket(s); print(auth.mint("pkg")[0])\n'
    )
    done = subprocess.run([sys.executable, '-c', seed], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return env, done.stdout.strip().splitlines()[-1]


def _tree(root) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root) for f in files)


def test_the_trimmed_package_alone_creates_presigns_reads_and_writes_from_its_pyc(deployment_zip, seeded, tmp_path):
    env, key = seeded
    task = tmp_path / 'task'  # /var/task: the unzipped package, read-only, nothing else importable
    with zipfile.ZipFile(deployment_zip) as z:
        z.extractall(task)
    for folder, dirs, files in os.walk(task):
        for name in dirs + files:
            path = os.path.join(folder, name)
            os.chmod(path, os.stat(path).st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    before = _tree(task)
    done = subprocess.run(
        [sys.executable, '-S', '-B', '-v', INVOKE, '--root', str(task), 'share', '--key', key],
        env={**env, 'PYTHONDONTWRITEBYTECODE': '1'},
        cwd=task,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert (
        result['create_status'],
        result['upload_status'],
        result['redeem_status'],
        result['download_status'],
        result['download_matches'],
    ) == (201, 200, 302, 200, True)
    # What it wrote is in the table and the bucket.
    items = client('dynamodb', env['AWS_ENDPOINT_URL']).scan(TableName='pkg-test')['Items']
    assert any(result['asset_id'] in item['ObjID']['S'] for item in items)
    objects = client('s3', env['AWS_ENDPOINT_URL']).list_objects_v2(
        Bucket='pkg-test', Prefix=keys.object_prefix(result['asset_id'])
    )
    assert objects['KeyCount'] == 1
    # Every module of the package came from its .pyc (python -v names what each code object came from).
    loaded = [
        line.split("'")[1]
        for line in done.stderr.splitlines()
        if line.startswith('# code object from') and str(task) in line
    ]
    assert len(loaded) > 100 and all(path.endswith('.cpython-311.pyc') for path in loaded), [
        path for path in loaded if not path.endswith('.pyc')
    ][:5]
    assert any(path.endswith('/chalicelib/__pycache__/' + os.path.basename(path)) for path in loaded)
    assert _tree(task) == before  # nothing written
