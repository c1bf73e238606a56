"""Create or update the table and bucket a stage needs. Idempotent: a second run changes nothing.

    python scripts/bootstrap.py --stage local        # against the endpoint in the stage's config
"""
import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

CORS_RULES = [{
    'AllowedOrigins': ['*'],
    'AllowedMethods': ['GET', 'HEAD', 'PUT', 'POST'],
    'AllowedHeaders': ['*'],
    'ExposeHeaders': ['ETag'],
    'MaxAgeSeconds': 3600,
}]


def stage_environment(stage: str, project_dir: str = ROOT) -> dict:
    with open(os.path.join(project_dir, '.chalice', 'config.json')) as f:
        config = json.load(f)
    env = dict(config.get('environment_variables', {}))
    env.update(config['stages'][stage].get('environment_variables', {}))
    return env


def apply_environment(env: dict) -> None:
    for name, value in env.items():
        os.environ[name] = value


def ensure_table(s) -> bool:
    """The table from the models' one schema, on-demand, with TTL on. True if it was created."""
    from chalicelib import aws, models
    aws.table(s)
    if models.Base.exists():
        models.Base.update_ttl(ignore_update_ttl_errors=False)
        return False
    models.Base.create_table(billing_mode='PAY_PER_REQUEST', wait=True)
    models.Base.update_ttl(ignore_update_ttl_errors=False)
    return True


def ensure_bucket(s) -> bool:
    """The bucket, private, with CORS for browser uploads. True if it was created."""
    from botocore.exceptions import ClientError

    from chalicelib import aws
    client = aws.s3(s)
    created = False
    try:
        client.head_bucket(Bucket=s.bucket)
    except ClientError as exc:
        if exc.response['Error']['Code'] not in ('404', 'NoSuchBucket', 'NotFound'):
            raise
        extra = {} if s.region == 'us-east-1' else {
            'CreateBucketConfiguration': {'LocationConstraint': s.region}}
        client.create_bucket(Bucket=s.bucket, **extra)
        created = True
    client.put_public_access_block(Bucket=s.bucket, PublicAccessBlockConfiguration={
        'BlockPublicAcls': True, 'IgnorePublicAcls': True, 'BlockPublicPolicy': True,
        'RestrictPublicBuckets': True})
    client.put_bucket_cors(Bucket=s.bucket, CORSConfiguration={'CORSRules': CORS_RULES})
    return created


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--stage', default='local')
    args = parser.parse_args(argv)
    apply_environment(stage_environment(args.stage))
    from chalicelib.config import settings
    s = settings()
    table = ensure_table(s)
    bucket = ensure_bucket(s)
    print(f'table {s.table}: {"created" if table else "up to date"}')
    print(f'bucket {s.bucket}: {"created" if bucket else "up to date"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
