"""API Gateway's own error answers, reshaped into assetgate's error shape: the one definition of them.

    python -m tools.deploy.gateway_responses --stage dev    # after chalice deploy (make deploy runs it)

Used twice: this command puts them on the API `chalice deploy` made, and tools/deploy/cfn.py puts
them into the API definition (x-amazon-apigateway-gateway-responses) for the CloudFormation path.
"""

import argparse
import json
import os
import sys

from tools import ROOT
from tools.deploy.bootstrap import stage_environment

# API Gateway answers these itself, before any Lambda runs. assetgate authenticates in code and
# uses no gateway authorizer, so MISSING_AUTHENTICATION_TOKEN is what an unknown path or method
# gets; its default body would echo the Authorization header, so every body here is fixed text.
RESPONSES = {
    'MISSING_AUTHENTICATION_TOKEN': (404, 'route_not_found', 'No route matches this method and path.'),
    'RESOURCE_NOT_FOUND': (404, 'route_not_found', 'No route matches this method and path.'),
    'UNAUTHORIZED': (401, 'unauthorized', 'Send a valid API key as "Authorization: Bearer <key>".'),
    'THROTTLED': (429, 'throttled', 'Too many requests; wait a moment and try again.'),
    'REQUEST_TOO_LARGE': (
        413,
        'request_too_large',
        'The request is larger than API Gateway accepts (10 MB); upload bytes to the presigned URL instead.',
    ),
}
HEADERS = {
    'gatewayresponse.header.Cache-Control': "'no-store'",
}


def body(response_type: str) -> str:
    status, code, message = RESPONSES[response_type]
    return json.dumps({'error': {'code': code, 'message': message, 'status': status}}, separators=(',', ':')) + '\n'


def definitions() -> dict:
    """{response type: the fields PutGatewayResponse and AWS::ApiGateway::GatewayResponse both take}."""
    return {
        kind: {
            'statusCode': str(status),
            'responseParameters': dict(HEADERS),
            'responseTemplates': {'application/json': body(kind)},
        }
        for kind, (status, _, _) in RESPONSES.items()
    }


def swagger_extension() -> dict:
    """The same answers inside the API definition, for chalice's RestAPI in the CloudFormation path.

    Not AWS::ApiGateway::GatewayResponse resources: each update of the definition re-imports the
    API and loses those, while these are part of the definition and redeploy with it.
    """
    return {
        kind: {
            'statusCode': int(d['statusCode']),
            'responseParameters': d['responseParameters'],
            'responseTemplates': d['responseTemplates'],
        }
        for kind, d in definitions().items()
    }


def apply(client, rest_api_id: str, stage: str) -> list[str]:
    """Put every answer on the API, then deploy the stage so they take effect.

    Always all of them: `chalice deploy` imports the API in overwrite mode, which drops them.
    """
    for kind, d in definitions().items():
        client.put_gateway_response(restApiId=rest_api_id, responseType=kind, **d)
    client.create_deployment(restApiId=rest_api_id, stageName=stage, description='assetgate gateway responses')
    return sorted(RESPONSES)


def deployed_api(stage: str, project_dir: str = ROOT) -> dict:
    """The rest_api record chalice wrote in .chalice/deployed/<stage>.json."""
    path = os.path.join(project_dir, '.chalice', 'deployed', f'{stage}.json')
    with open(path) as f:
        deployed = json.load(f)
    for resource in deployed.get('resources', []):
        if resource.get('resource_type') == 'rest_api':
            return resource
    raise SystemExit(f'{path} names no rest_api; run chalice deploy --stage {stage} first')


def main(argv=None) -> int:

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--stage', required=True)
    parser.add_argument('--project-dir', default=ROOT)
    args = parser.parse_args(argv)
    with open(os.path.join(args.project_dir, '.chalice', 'config.json')) as f:
        config = json.load(f)
    api_stage = config['stages'][args.stage].get('api_gateway_stage', config.get('api_gateway_stage', 'api'))
    region = stage_environment(args.stage, args.project_dir)['ASSETGATE_REGION']
    api = deployed_api(args.stage, args.project_dir)
    import boto3

    client = boto3.session.Session().client('apigateway', region_name=region)
    kinds = apply(client, api['rest_api_id'], api_stage)
    print(f'gateway responses on {api["rest_api_id"]} ({api_stage}): {", ".join(kinds)}')
    print(f'API URL: {api.get("rest_api_url", "")}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
