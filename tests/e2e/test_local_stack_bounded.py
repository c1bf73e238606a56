"""The local stack stays up under load: moto's memory and create latency stay bounded (issue 14).

moto 5.2.5 deep-copies the whole table for every item of a TransactWriteItems and keeps every
copy; tools/stack/moto_server.py's bound_moto_memory works around it. `make stack-memory` runs the
long version (5,000 creates).
"""

import uuid

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import run_local_stack
from tools.measure.procs import cpu_seconds, rss_mib
from tools.measure.stack_memory import moto_pid

CREATES = 400
CHECK_EVERY = 50
# With the workaround 5,000 creates grow moto by ~65 MiB; without it 100 creates grow it by ~200 MiB.
MAX_GROWTH_MIB = 100
# The cost of a create, as moto's own CPU seconds for the first and the last 100 creates: the issue's
# goal is create latency within 1.5x over 5,000 creates (make stack-memory measures the wall time);
# moto's CPU time is that latency's cause and, unlike wall time, does not swing with the machine's
# load. Without the workaround it grows with every item in the table (each item of a transaction
# copied the whole table).
MAX_CPU_RATIO = 2.0
WINDOW = 100


@pytest.fixture(scope='module')
def busy_stack(tmp_path_factory):
    """A stack of its own: the shared stack's table would keep these creates and slow every later scan of it.

    A create makes no S3 request, so S3 stays on moto (an empty S3 endpoint): no LocalStack to start."""
    yield from run_local_stack(tmp_path_factory.mktemp('busy'), {'AWS_ENDPOINT_URL_S3': ''})


def test_creates_keep_moto_memory_and_the_cost_of_a_create_bounded(busy_stack):
    stack = busy_stack
    pid = moto_pid(stack.proc.pid)
    assert stack.create('name=warm.txt&token=1').status_code == 201
    start = rss_mib(pid)
    cpu, ids = [cpu_seconds(pid)], set()
    for n in range(1, CREATES + 1):
        response = stack.create('name=x&token=1')
        assert response.status_code == 201, response.text
        ids.add(response.json()['asset']['id'])
        if n % CHECK_EVERY == 0:  # stop early rather than let an unbounded moto eat the machine's memory
            assert rss_mib(pid) - start < MAX_GROWTH_MIB, f'moto grew by {rss_mib(pid) - start:.0f} MiB in {n} creates'
        if n % WINDOW == 0:
            cpu.append(cpu_seconds(pid))
    assert len(ids) == CREATES
    first, last = cpu[1] - cpu[0], cpu[-1] - cpu[-2]
    assert last <= MAX_CPU_RATIO * first, f'moto CPU for 100 creates: first {first:.2f} s, last {last:.2f} s'


def _item(key: str, sort: str, **attrs) -> dict:
    return {'ObjID': {'S': key}, 'ObjSort': {'S': sort}, **{k: {'S': v} for k, v in attrs.items()}}


@pytest.fixture
def scratch_keys(stack):
    """Two fresh ObjIDs outside assetgate's key shapes, removed after the test (the stack is shared)."""
    made = [f'TEST#{uuid.uuid4()}', f'TEST#{uuid.uuid4()}']
    yield made
    for obj_id in made:
        stack.boto('dynamodb').delete_item(TableName=stack.table, Key=_item(obj_id, 'A'))


def test_a_failed_transaction_still_leaves_every_item_as_it_was(stack, scratch_keys):
    dynamodb = stack.boto('dynamodb')
    existing, new = scratch_keys
    dynamodb.put_item(TableName=stack.table, Item=_item(existing, 'A', state='before'))
    with pytest.raises(ClientError) as failed:
        dynamodb.transact_write_items(
            TransactItems=[
                {'Put': {'TableName': stack.table, 'Item': _item(new, 'A', state='new')}},
                {
                    'Update': {
                        'TableName': stack.table,
                        'Key': _item(existing, 'A'),
                        'UpdateExpression': 'SET #s = :s',
                        'ExpressionAttributeNames': {'#s': 'state'},
                        'ExpressionAttributeValues': {':s': {'S': 'after'}},
                    }
                },
                {
                    'ConditionCheck': {
                        'TableName': stack.table,
                        'Key': _item(new, 'B'),
                        'ConditionExpression': 'attribute_exists(ObjID)',
                    }
                },
            ]
        )
    assert failed.value.response['Error']['Code'] == 'TransactionCanceledException'
    assert 'Item' not in dynamodb.get_item(TableName=stack.table, Key=_item(new, 'A'))
    assert dynamodb.get_item(TableName=stack.table, Key=_item(existing, 'A'))['Item'] == _item(
        existing, 'A', state='before'
    )


def test_a_successful_transaction_writes_every_item(stack, scratch_keys):
    dynamodb = stack.boto('dynamodb')
    existing, new = scratch_keys
    dynamodb.put_item(TableName=stack.table, Item=_item(existing, 'A', state='before'))
    dynamodb.transact_write_items(
        TransactItems=[
            {'Put': {'TableName': stack.table, 'Item': _item(new, 'A', state='new')}},
            {
                'Update': {
                    'TableName': stack.table,
                    'Key': _item(existing, 'A'),
                    'UpdateExpression': 'SET #s = :s',
                    'ExpressionAttributeNames': {'#s': 'state'},
                    'ExpressionAttributeValues': {':s': {'S': 'after'}},
                }
            },
        ]
    )
    assert dynamodb.get_item(TableName=stack.table, Key=_item(new, 'A'))['Item'] == _item(new, 'A', state='new')
    assert dynamodb.get_item(TableName=stack.table, Key=_item(existing, 'A'))['Item'] == _item(
        existing, 'A', state='after'
    )
