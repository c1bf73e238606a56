"""assetgate's tooling, apart from the product; each module runs as `python -m tools.<package>.<module>` from the root.

- tools.deploy: what a deploy is (bootstrap, deploy/destroy, the CloudFormation path, the Lambda package,
  gateway responses, API keys, a stage's data checks, the generated preview agents).
- tools.stack: the local stack that `make run` and the tests use (LocalStack's S3, moto's DynamoDB, chalice local).
- tools.measure: measurement (bench, bench-cli, soak, the stack's start time and memory).
"""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the project: tools/ is at its root
