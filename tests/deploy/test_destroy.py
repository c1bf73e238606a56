"""make destroy: removes what chalice deployed, keeps the data unless asked, and says what it left."""

import subprocess
import sys

from tests.deploy.conftest import aws_env, client, read_json
from tests.deploy.test_bootstrap import run_bootstrap
from tools import ROOT

DEPLOY = [sys.executable, '-m', 'tools.deploy.deploy']  # run from ROOT


def run_deploy_script(project, endpoint, *args):
    return subprocess.run(
        [*DEPLOY, *args, '--project-dir', str(project)],
        env=aws_env(endpoint),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def names(project, stage='dev'):
    env = read_json(project / '.chalice' / 'config.json')['stages'][stage]['environment_variables']
    return env['ASSETGATE_TABLE'], env['ASSETGATE_BUCKET']


def test_destroy_keeps_the_table_and_bucket_and_says_so(moto_server, project):
    run_bootstrap(project, moto_server)
    table, bucket = names(project)
    done = run_deploy_script(project, moto_server, 'destroy', '--stage', 'dev')
    assert done.returncode == 0, done.stderr
    assert f'kept: table {table} and bucket {bucket}' in done.stdout
    assert 'DELETE_DATA=1' in done.stdout
    client('dynamodb', moto_server).describe_table(TableName=table)
    client('s3', moto_server).head_bucket(Bucket=bucket)


def test_destroy_with_delete_data_removes_bucket_objects_uploads_and_table(moto_server, project):
    run_bootstrap(project, moto_server)
    table, bucket = names(project)
    s3 = client('s3', moto_server)
    # moto cannot evaluate the TLS-only policy's condition and would deny these plain-HTTP writes.
    s3.delete_bucket_policy(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key='assets/x/1', Body=b'data')
    s3.create_multipart_upload(Bucket=bucket, Key='assets/x/2')
    done = run_deploy_script(project, moto_server, 'destroy', '--stage', 'dev', '--delete-data')
    assert done.returncode == 0, done.stderr
    assert f'bucket {bucket}: emptied and deleted' in done.stdout and f'table {table}: deleted' in done.stdout
    assert bucket not in [b['Name'] for b in s3.list_buckets()['Buckets']]
    assert table not in client('dynamodb', moto_server).list_tables()['TableNames']


def test_deploy_and_destroy_refuse_the_local_stage(moto_server, project):
    for action in ('deploy', 'destroy'):
        done = run_deploy_script(project, moto_server, action, '--stage', 'local')
        assert done.returncode == 2 and 'not a deployable stage' in done.stderr


def test_make_deploy_without_a_stage_explains_itself():
    done = subprocess.run(['make', '-s', 'deploy'], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode != 0 and 'usage: make deploy STAGE=' in done.stderr


def test_second_destroy_after_delete_data_says_nothing_is_left(moto_server, project):
    run_bootstrap(project, moto_server)
    # What chalice delete leaves behind: the stage's record with no resources in it.
    deployed = project / '.chalice' / 'deployed'
    deployed.mkdir(parents=True, exist_ok=True)
    (deployed / 'dev.json').write_text('{"resources": [], "schema_version": "2.0", "backend": "api"}')
    client('s3', moto_server).delete_bucket_policy(Bucket=names(project)[1])
    first = run_deploy_script(project, moto_server, 'destroy', '--stage', 'dev', '--delete-data')
    assert first.returncode == 0, first.stderr
    assert 'nothing left to remove' not in first.stdout
    second = run_deploy_script(project, moto_server, 'destroy', '--stage', 'dev')
    assert second.returncode == 0, second.stderr
    assert 'nothing deployed for dev' in second.stdout and 'nothing left to remove for dev' in second.stdout
    assert 'removed:' not in second.stdout and 'kept: table' not in second.stdout
