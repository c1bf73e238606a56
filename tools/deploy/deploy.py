"""Deploy a stage with `chalice deploy`, or remove it: what `make deploy` and `make destroy` run.

    python -m tools.deploy.deploy deploy  --stage dev
    python -m tools.deploy.deploy destroy --stage dev [--delete-data]

deploy:  bootstrap (config, table, bucket) -> chalice deploy -> gateway responses -> the API URL.
destroy: chalice delete (functions, roles, API, the bucket's notification); the table and the
         bucket stay unless --delete-data, because they hold the only copy of the data.
"""

import argparse
import json
import os
import subprocess
import sys

import boto3
from botocore.exceptions import ClientError

from tools import ROOT
from tools.deploy import bootstrap, gateway_responses, lambda_package


def _chalice(args: list[str], region: str, project_dir: str) -> None:
    chalice = os.path.join(os.path.dirname(sys.executable), 'chalice')
    # chalice deploys to the session's region: make it the stage's, so the functions sit next to the data.
    # It imports app.py: writing no __pycache__ into chalicelib/ keeps the cached package's name.
    env = {**os.environ, 'AWS_DEFAULT_REGION': region, 'PYTHONDONTWRITEBYTECODE': '1'}
    env.pop('AWS_REGION', None)
    subprocess.run([chalice, '--project-dir', project_dir, *args], check=True, env=env)


def deploy(stage: str, project_dir: str = ROOT) -> int:

    bootstrap.main(['--stage', stage, '--project-dir', project_dir])
    region = bootstrap.stage_environment(stage, project_dir)['ASSETGATE_REGION']
    # chalice deploy reuses the package cached under .chalice/deployments/ when its name (a hash of the
    # sources) exists: make it the byte-compiled, trimmed one first (docs/packaging.md).
    package = lambda_package.build(stage, project_dir)
    _chalice(['deploy', '--stage', stage], region, project_dir)
    shipped = lambda_package.expected_path(stage, project_dir)
    if shipped != package and os.path.exists(shipped) and not lambda_package.is_rewritten(shipped):
        raise SystemExit(
            f'the sources changed during the deploy, so chalice built and shipped {shipped}, which is '
            f'not byte-compiled; run make deploy STAGE={stage} again'
        )
    # Now that the API exists, the bucket's CORS can name its origin (the owner app is served there).
    bootstrap.main(['--stage', stage, '--project-dir', project_dir])
    os.environ['AWS_DEFAULT_REGION'] = region
    gateway_responses.main(['--stage', stage, '--project-dir', project_dir])
    return 0


def delete_data(s) -> list[str]:
    """Empty and delete the bucket (every version, every unfinished upload), then delete the table."""
    import boto3
    from botocore.exceptions import ClientError

    from chalicelib.storage import aws

    done = []
    s3 = aws.s3(s)
    try:
        for page in s3.get_paginator('list_multipart_uploads').paginate(Bucket=s.bucket):
            for upload in page.get('Uploads', []):
                s3.abort_multipart_upload(Bucket=s.bucket, Key=upload['Key'], UploadId=upload['UploadId'])
        for page in s3.get_paginator('list_object_versions').paginate(Bucket=s.bucket):
            doomed = [
                {'Key': v['Key'], 'VersionId': v['VersionId']}
                for v in page.get('Versions', []) + page.get('DeleteMarkers', [])
            ]
            if doomed:
                s3.delete_objects(Bucket=s.bucket, Delete={'Objects': doomed, 'Quiet': True})
        s3.delete_bucket(Bucket=s.bucket)
        done.append(f'bucket {s.bucket}: emptied and deleted')
    except ClientError as exc:
        if exc.response['Error']['Code'] not in ('NoSuchBucket', '404'):
            raise
    dynamodb = boto3.session.Session().client('dynamodb', region_name=s.region, endpoint_url=s.dynamodb_endpoint_url)
    try:
        dynamodb.delete_table(TableName=s.table)
        done.append(f'table {s.table}: deleted (its point-in-time backups go with it)')
    except dynamodb.exceptions.ResourceNotFoundException:
        pass
    return done


def deployed_resources(path: str) -> list:
    """The resources chalice recorded in .chalice/deployed/<stage>.json; none if the file is missing."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return json.load(f).get('resources', [])


def existing_data(s) -> list[str]:
    """Which of the stage's table and bucket exist, as 'table <name>' / 'bucket <name>'."""
    session = boto3.session.Session()
    found = []
    try:
        session.client('dynamodb', region_name=s.region, endpoint_url=s.dynamodb_endpoint_url).describe_table(
            TableName=s.table
        )
        found.append(f'table {s.table}')
    except ClientError as exc:
        if exc.response['Error']['Code'] != 'ResourceNotFoundException':
            raise
    try:
        session.client('s3', region_name=s.region, endpoint_url=s.s3_endpoint_url).head_bucket(Bucket=s.bucket)
        found.append(f'bucket {s.bucket}')
    except ClientError as exc:
        if exc.response['Error']['Code'] not in ('404', 'NoSuchBucket', 'NotFound'):
            raise
    return found


def destroy(stage: str, wipe: bool, project_dir: str = ROOT) -> int:

    env = bootstrap.stage_environment(stage, project_dir)
    region = env['ASSETGATE_REGION']
    deployed = os.path.join(project_dir, '.chalice', 'deployed', f'{stage}.json')
    removed = []
    # chalice delete leaves the record behind with no resources in it: that is "nothing deployed" too.
    if deployed_resources(deployed):
        _chalice(['delete', '--stage', stage], region, project_dir)
        removed.append(f'removed: the {stage} functions, their roles, the API and the bucket notification')
    else:
        print(f'nothing deployed for {stage} from this checkout ({deployed} names no resources)')
    bootstrap.apply_environment(env)
    os.environ['AWS_DEFAULT_REGION'] = region
    from chalicelib.config import settings

    s = settings()
    if wipe:
        removed += delete_data(s)
    else:
        kept = existing_data(s)
        if kept:
            print(f'kept: {" and ".join(kept)} with their data (make destroy STAGE={stage} DELETE_DATA=1 deletes them)')
    for line in removed:
        print(line)
    if not removed:
        print(f'nothing left to remove for {stage}')
    print(
        f'kept: the CloudWatch log groups /aws/lambda/assetgate-{stage}* (delete them in the console or with '
        f'aws logs delete-log-group)'
    )
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('action', choices=['deploy', 'destroy'])
    parser.add_argument('--stage', required=True)
    parser.add_argument('--delete-data', action='store_true', help='destroy: also delete the table and the bucket')
    parser.add_argument('--project-dir', default=ROOT)
    args = parser.parse_args(argv)
    with open(os.path.join(args.project_dir, '.chalice', 'config.json')) as f:
        stages = json.load(f)['stages']
    if args.stage not in stages or 'AWS_ENDPOINT_URL' in stages[args.stage].get('environment_variables', {}):
        parser.error(f'{args.stage} is not a deployable stage (those without AWS_ENDPOINT_URL in .chalice/config.json)')
    if args.action == 'deploy':
        return deploy(args.stage, args.project_dir)
    return destroy(args.stage, args.delete_data, args.project_dir)


if __name__ == '__main__':
    sys.exit(main())
