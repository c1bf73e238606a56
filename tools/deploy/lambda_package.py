"""The Lambda deployment package: chalice's zip, byte-compiled for Python 3.11 and with botocore trimmed.

    python -m tools.deploy.lambda_package [--stage dev] [--project-dir .]   # prints the zip's path
    python -m tools.deploy.lambda_package --rewrite some/deployment.zip     # post-process one zip in place

Chalice has no hook between building the package and uploading it, but it caches the package
in .chalice/deployments/<md5 of requirements.txt, app.py, chalicelib/ and chalice's runtime>-python3.11.zip
and reuses that file, unread, whenever it exists (LambdaDeploymentPackager.create_deployment_package).
build() asks chalice's own packager for that name, lets chalice build the zip if it is missing, and
rewrites it in place: `chalice deploy` and `chalice package` then ship the rewritten zip.
See docs/packaging.md.

The rewrite:
- removes every __pycache__ folder and .pyc that came from the checkout (chalice copies chalicelib/
  as it is, caches of other Python versions included);
- removes botocore's data for every service but KEPT_SERVICES (the top-level files botocore itself
  reads, such as endpoints.json and partitions.json, stay), and boto3's resource data likewise;
- compiles every .py into __pycache__/<name>.cpython-311.pyc in unchecked-hash mode: Lambda's
  /var/task is read-only and its file times are those of the extraction, so timestamp .pyc would be
  ignored and rebuilt in memory on every cold start; unchecked-hash .pyc are used as they are.
The zip's comment records the rewrite, so it is done once per package.
"""

import argparse
import compileall
import json
import os
import py_compile
import sys
import tempfile
import zipfile

from chalice.config import Config
from chalice.deploy.packager import DependencyBuilder, LambdaDeploymentPackager, PipRunner, SubprocessPip
from chalice.utils import UI, OSUtils

from tools import ROOT

RUNTIME = (3, 11)  # Lambda's python3.11: the .pyc magic number is this version's
CACHE_TAG = 'cpython-311'
# What the app's clients use (dynamodb via PynamoDB, s3 via boto3) and sts (credential refresh,
# AssumeRole-based configurations); botocore reads nothing else under data/ but its top-level files.
KEPT_SERVICES = ('dynamodb', 's3', 'sts')
MARKER = (
    'assetgate: byte-compiled for cpython-311 (unchecked-hash .pyc); botocore data trimmed to '
    + ', '.join(KEPT_SERVICES)
).encode()


def _check_runtime() -> None:
    if sys.version_info[:2] != RUNTIME:
        raise SystemExit(
            f"the deployment package is compiled for Lambda's Python {RUNTIME[0]}.{RUNTIME[1]}; "
            f'run this with Python {RUNTIME[0]}.{RUNTIME[1]} (.venv/bin/python), not {sys.version.split()[0]}'
        )


def _dropped(name: str) -> bool:
    """True for a zip entry the package must not ship."""
    parts = name.split('/')
    if '__pycache__' in parts or name.endswith(('.pyc', '.pyo')):
        return True
    for library in ('botocore', 'boto3'):
        # botocore/data/<service>/... and boto3/data/<service>/...: keep the services used.
        if len(parts) > 3 and parts[:2] == [library, 'data'] and parts[2] not in KEPT_SERVICES:
            return True
    return False


def is_rewritten(zip_path: str) -> bool:
    with zipfile.ZipFile(zip_path) as z:
        return z.comment == MARKER


def rewrite(zip_path: str) -> None:
    """Trim and byte-compile the package at zip_path, in place (atomically). Idempotent."""
    _check_runtime()
    if is_rewritten(zip_path):
        return
    with tempfile.TemporaryDirectory(prefix='assetgate-package-') as tmp:
        tree = os.path.join(tmp, 'tree')
        infos = {}
        with zipfile.ZipFile(zip_path) as z:
            for info in z.infolist():
                if info.is_dir() or _dropped(info.filename):
                    continue
                infos[info.filename] = info
                z.extract(info, tree)
        sources = [name for name in infos if name.endswith('.py')]
        # stripdir: the .pyc name their source relative to the package root, not this temporary folder.
        ok = compileall.compile_dir(
            tree, quiet=2, stripdir=tree, workers=0, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
        )
        missing = [name for name in sources if not os.path.exists(os.path.join(tree, pyc_name(name)))]
        if not ok or missing:
            raise SystemExit(f'could not byte-compile {len(missing)} file(s) of {zip_path}: {missing[:5]}')
        out = zip_path + '.tmp'
        with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED, compresslevel=9) as z:
            for name in sorted(infos):
                info = infos[name]
                _write(z, tree, name, info.date_time, info.external_attr)
                if name.endswith('.py'):
                    _write(z, tree, pyc_name(name), info.date_time, 0o100644 << 16)
            z.comment = MARKER
        os.replace(out, zip_path)


def pyc_name(source: str) -> str:
    """Where Python 3.11's import system looks for the .pyc of ``source`` (a path inside the package)."""
    folder, file = os.path.split(source)
    return os.path.join(folder, '__pycache__', f'{file[:-3]}.{CACHE_TAG}.pyc')


def _write(z: zipfile.ZipFile, tree: str, name: str, date_time, external_attr: int) -> None:
    info = zipfile.ZipInfo(name, date_time)
    info.external_attr = external_attr
    info.compress_type = zipfile.ZIP_DEFLATED
    with open(os.path.join(tree, name), 'rb') as f:
        z.writestr(info, f.read(), compresslevel=9)


def _packager(config: Config) -> LambdaDeploymentPackager:
    """The packager `chalice deploy` and `chalice package` use (chalice.deploy.deployer.create_build_stage)."""
    osutils = OSUtils()
    builder = DependencyBuilder(
        osutils=osutils,
        pip_runner=PipRunner(pip=SubprocessPip(osutils=osutils), osutils=osutils),
        architecture=config.lambda_architecture,
    )
    return LambdaDeploymentPackager(
        osutils=osutils, dependency_builder=builder, ui=UI(), architecture=config.lambda_architecture
    )


def build(stage: str, project_dir: str = ROOT) -> str:
    """Make the zip chalice will reuse for ``stage`` exist, rewritten; its path."""
    path = chalice_package(stage, project_dir)
    rewrite(path)
    return path


def chalice_package(stage: str, project_dir: str = ROOT) -> str:
    """The zip chalice builds (or reuses) for ``stage``, as it is: rewritten only if it was before."""
    _check_runtime()
    project_dir = os.path.abspath(project_dir)
    with open(os.path.join(project_dir, '.chalice', 'config.json')) as f:
        config = Config(
            chalice_stage=stage, user_provided_params={'project_dir': project_dir}, config_from_disk=json.load(f)
        )
    if config.automatic_layer:
        raise SystemExit(
            'automatic_layer is set: chalice would build other packages (a layer), which this '
            'script does not compile; see docs/packaging.md'
        )
    return _packager(config).create_deployment_package(project_dir, config.lambda_python_version)


def expected_path(stage: str, project_dir: str = ROOT) -> str:
    """The cached package chalice would reuse for ``stage`` right now (its name hashes the sources)."""
    project_dir = os.path.abspath(project_dir)
    with open(os.path.join(project_dir, '.chalice', 'config.json')) as f:
        config = Config(
            chalice_stage=stage, user_provided_params={'project_dir': project_dir}, config_from_disk=json.load(f)
        )
    return _packager(config).deployment_package_filename(project_dir, config.lambda_python_version)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--stage', default='dev')
    parser.add_argument('--project-dir', default=ROOT)
    parser.add_argument('--rewrite', metavar='ZIP', help='rewrite this zip in place instead of building')
    args = parser.parse_args(argv)
    if args.rewrite:
        rewrite(args.rewrite)
        print(args.rewrite)
    else:
        print(build(args.stage, args.project_dir))
    return 0


if __name__ == '__main__':
    sys.exit(main())
