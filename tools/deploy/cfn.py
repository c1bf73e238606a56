"""The CloudFormation path: `chalice package --merge-template` with the table, bucket and permissions.

    python -m tools.deploy.cfn --stage dev [--out build/cfn-dev]   # writes <out>/sam.json and deployment.zip

The merge template is built, not hand-copied, from the same sources the bootstrap path uses:
the key schema and TTL from chalicelib/storage/models.py, bucket settings from tools/deploy/bootstrap.py,
the actions from .chalice/policy-<stage>.json and the error answers from tools/deploy/gateway_responses.py.
Deploy the result with `aws cloudformation package` + `deploy` (or `sam deploy`).
"""

import argparse
import json
import os
import subprocess
import sys

from chalicelib.storage import keys
from tools import ROOT
from tools.deploy import bootstrap, gateway_responses, lambda_package
from tools.deploy.bootstrap import TABLE_SSE, stage_environment

# chalice's logical ids for what it generates from app.py. With autogen_policy false chalice
# gives each function its own role, both carrying .chalice/policy-<stage>.json.
ROLES, API, HANDLER, LANDED = ('ApiHandlerRole', 'UploadLandedRole'), 'RestAPI', 'APIHandler', 'UploadLanded'
DATA_STATEMENTS = ('TableItems', 'BucketObjects', 'Bucket')


def bucket_name(stage: str, env: dict):
    """The stage's bucket name, or the bootstrap's default built by CloudFormation itself."""
    return env.get('ASSETGATE_BUCKET') or {'Fn::Sub': f'assetgate-{stage}-${{AWS::AccountId}}-${{AWS::Region}}'}


def _arn(bucket, suffix=''):
    if isinstance(bucket, dict):
        return {'Fn::Sub': 'arn:aws:s3:::' + bucket['Fn::Sub'] + suffix}
    return f'arn:aws:s3:::{bucket}{suffix}'


def table_resource(env: dict) -> dict:
    from chalicelib.storage import models

    schema = models.key_schema()
    return {
        'Type': 'AWS::DynamoDB::Table',
        # Data outlives the stack: deleting or replacing it never deletes the table.
        'DeletionPolicy': 'Retain',
        'UpdateReplacePolicy': 'Retain',
        'Properties': {
            'TableName': env['ASSETGATE_TABLE'],
            'BillingMode': 'PAY_PER_REQUEST',
            'AttributeDefinitions': schema['AttributeDefinitions'],
            'KeySchema': schema['KeySchema'],
            'TimeToLiveSpecification': {'AttributeName': models.ttl_attribute_name(), 'Enabled': True},
            'PointInTimeRecoverySpecification': {'PointInTimeRecoveryEnabled': True},
            'SSESpecification': {'SSEEnabled': TABLE_SSE['Enabled'], 'SSEType': TABLE_SSE['SSEType']},
        },
    }


def bucket_resources(stage: str, env: dict) -> dict:

    name = bucket_name(stage, env)
    rule = bootstrap.lifecycle_rules(bootstrap.abort_multipart_days(env))[0]
    # The app is served by this stack's own API, so its origin is in the template; configured ones join it.
    api_origin = {'Fn::Sub': f'https://${{{API}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}'}
    cors = [
        {
            'AllowedOrigins': bootstrap.app_origins(env) + [api_origin],
            'AllowedMethods': bootstrap.CORS_METHODS,
            'AllowedHeaders': bootstrap.CORS_HEADERS,
            'ExposedHeaders': bootstrap.CORS_EXPOSE,
            'MaxAge': bootstrap.CORS_MAX_AGE,
        }
    ]
    tls = bootstrap.tls_only_policy('BUCKET')['Statement'][0]
    tls['Resource'] = [_arn(name), _arn(name, '/*')]
    return {
        'AssetBucket': {
            'Type': 'AWS::S3::Bucket',
            'DeletionPolicy': 'Retain',
            'UpdateReplacePolicy': 'Retain',
            # S3 checks that it may invoke the function when the notification is configured.
            'DependsOn': 'UploadLandedInvokePermission',
            'Properties': {
                'BucketName': name,
                'PublicAccessBlockConfiguration': dict(bootstrap.PUBLIC_ACCESS_BLOCK),
                'BucketEncryption': {
                    'ServerSideEncryptionConfiguration': [
                        {'ServerSideEncryptionByDefault': dict(bootstrap.BUCKET_ENCRYPTION)}
                    ]
                },
                'CorsConfiguration': {'CorsRules': cors},
                'LifecycleConfiguration': {
                    'Rules': [
                        {
                            'Id': rule['ID'],
                            'Status': rule['Status'],
                            'AbortIncompleteMultipartUpload': rule['AbortIncompleteMultipartUpload'],
                        }
                    ]
                },
                'NotificationConfiguration': {
                    'LambdaConfigurations': [
                        {
                            'Event': 's3:ObjectCreated:*',
                            'Filter': {'S3Key': {'Rules': [{'Name': 'prefix', 'Value': keys.OBJECT_PREFIX}]}},
                            'Function': {'Fn::GetAtt': [LANDED, 'Arn']},
                        }
                    ]
                },
            },
        },
        'AssetBucketPolicy': {
            'Type': 'AWS::S3::BucketPolicy',
            'Properties': {
                'Bucket': {'Ref': 'AssetBucket'},
                'PolicyDocument': {'Version': '2012-10-17', 'Statement': [tls]},
            },
        },
        # Named, not Ref'd, bucket ARN: a Ref would make bucket and permission depend on each other.
        'UploadLandedInvokePermission': {
            'Type': 'AWS::Lambda::Permission',
            'Properties': {
                'Action': 'lambda:InvokeFunction',
                'FunctionName': {'Ref': LANDED},
                'Principal': 's3.amazonaws.com',
                'SourceAccount': {'Ref': 'AWS::AccountId'},
                'SourceArn': _arn(name),
            },
        },
    }


def data_policy(stage: str, env: dict, policy: dict) -> dict:
    """The table and bucket actions of policy-<stage>.json on this stack's own resources.

    A separate resource because --merge-template replaces lists: adding to a role's
    Policies would drop the statement chalice puts there.
    """
    name = bucket_name(stage, env)
    resources = {
        'TableItems': [{'Fn::GetAtt': ['AssetTable', 'Arn']}],
        'BucketObjects': [_arn(name, '/*')],
        'Bucket': [_arn(name)],
    }
    statements = [
        {'Sid': st['Sid'], 'Effect': st['Effect'], 'Action': st['Action'], 'Resource': resources[st['Sid']]}
        for st in policy['Statement']
        if st.get('Sid') in DATA_STATEMENTS
    ]
    return {
        'Type': 'AWS::IAM::Policy',
        'Properties': {
            'PolicyName': 'assetgate-data',
            'Roles': [{'Ref': role} for role in ROLES],
            'PolicyDocument': {'Version': '2012-10-17', 'Statement': statements},
        },
    }


def merge_template(stage: str, project_dir: str = ROOT) -> dict:

    env = stage_environment(stage, project_dir)
    with open(os.path.join(project_dir, '.chalice', 'config.json')) as f:
        config = json.load(f)
    with open(os.path.join(project_dir, '.chalice', config['stages'][stage]['iam_policy_file'])) as f:
        policy = json.load(f)
    # The functions read the names of the resources this stack made.
    variables = {
        'Environment': {
            'Variables': {'ASSETGATE_TABLE': {'Ref': 'AssetTable'}, 'ASSETGATE_BUCKET': bucket_name(stage, env)}
        }
    }
    resources = {
        'AssetTable': table_resource(env),
        **bucket_resources(stage, env),
        'AssetgateDataAccess': data_policy(stage, env, policy),
        HANDLER: {'Properties': variables},
        LANDED: {'Properties': json.loads(json.dumps(variables))},
        API: {
            'Properties': {
                'DefinitionBody': {'x-amazon-apigateway-gateway-responses': gateway_responses.swagger_extension()}
            }
        },
    }
    return {'Resources': resources}


def package(stage: str, out: str, project_dir: str = ROOT) -> str:
    """Run `chalice package` for the stage with the merge template; returns the template's path."""
    os.makedirs(out, exist_ok=True)
    merge_path = os.path.join(out, 'resources.json')
    with open(merge_path, 'w') as f:
        json.dump(merge_template(stage, project_dir), f, indent=2)
    chalice = os.path.join(os.path.dirname(sys.executable), 'chalice')

    # The byte-compiled, trimmed zip, where chalice looks for a package to reuse (docs/packaging.md).
    lambda_package.build(stage, project_dir)
    # chalice needs a region to package for: the stage's. No credentials are used. It imports app.py:
    # writing no __pycache__ into chalicelib/ keeps the cached package's name (a hash of chalicelib/).
    env = {
        **os.environ,
        'ASSETGATE_S3_EVENTS': 'template',
        'PYTHONDONTWRITEBYTECODE': '1',
        'AWS_DEFAULT_REGION': stage_environment(stage, project_dir)['ASSETGATE_REGION'],
    }
    subprocess.run(
        [
            chalice,
            '--project-dir',
            project_dir,
            'package',
            '--stage',
            stage,
            '--merge-template',
            os.path.abspath(merge_path),
            os.path.abspath(out),
        ],
        check=True,
        env=env,
    )
    lambda_package.rewrite(os.path.join(out, 'deployment.zip'))  # a no-op unless chalice built its own
    return os.path.join(out, 'sam.json')


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--stage', required=True)
    parser.add_argument('--out')
    parser.add_argument('--project-dir', default=ROOT)
    args = parser.parse_args(argv)
    out = args.out or os.path.join(args.project_dir, 'build', f'cfn-{args.stage}')
    print(package(args.stage, out, args.project_dir))
    return 0


if __name__ == '__main__':
    sys.exit(main())
