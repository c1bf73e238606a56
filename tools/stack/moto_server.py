"""moto's server for the local stack and the tests, with DynamoDB requests applied one at a time.

    python -m tools.stack.moto_server -H 127.0.0.1 -p 4570

DynamoDB applies each conditional write atomically. moto checks a ConditionExpression and
then applies the update in separate steps with no lock, so two concurrent conditional
updates can both pass: a max_uses=5 token gave 6 redirects under a 50-request burst.
One lock around DynamoDB requests restores DynamoDB's guarantee; S3 requests (the large
uploads and downloads) stay concurrent.

moto 5.2.5 also grows without bound under assetgate's writes (see bound_moto_memory): the
server calls it before serving, and the in-process tiers call it before mock_aws starts.
"""

import argparse
import copy
import os
import threading

from moto.core.common_models import BaseModel
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.server import MotoRequestHandler
from werkzeug.serving import run_simple


class _TablesByReference:
    """moto.dynamodb.models' ``copy`` module, except that a Table is not deep-copied.

    DynamoDBBackend.transact_write_items deep-copies the whole table once per item of the
    transaction, as its undo record; the wrapper below keeps a copy of the touched items instead.
    Every other deepcopy in that module (UpdateItem's copy of one item) is the real one.
    """

    @staticmethod
    def deepcopy(value, memo=None):
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    def __getattr__(self, name):
        return getattr(copy, name)


def _key_of(table: Table, op: dict) -> tuple[DynamoType, DynamoType | None]:
    attrs = op['Item'] if 'Item' in op else op['Key']
    hash_value = DynamoType(attrs[table.hash_key_attr])
    range_value = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
    return hash_value, range_value


def _touched_items(backend, transact_items: list) -> list:
    """(table, hash, range, deep copy of the item or None) for every item the transaction names."""
    saved = []
    for entry in transact_items:
        for op in entry.values() if isinstance(entry, dict) else ():
            table = backend.tables.get(op.get('TableName')) if isinstance(op, dict) else None
            if table is None:
                continue
            try:
                hash_value, range_value = _key_of(table, op)
                item = table.get_item(hash_value, range_value)
            except Exception:  # a malformed operation: moto rejects it before it writes anything
                continue
            saved.append((table, hash_value, range_value, copy.deepcopy(item)))
    return saved


def _restore(saved: list) -> None:
    for table, hash_value, range_value, item in reversed(saved):
        if range_value is None:
            if item is None:
                table.items.pop(hash_value, None)
            else:
                table.items[hash_value] = item
        elif item is None:
            table.items.get(hash_value, {}).pop(range_value, None)
        else:
            table.items[hash_value][range_value] = item


def _transact_write_items(original):
    def transact_write_items(self, transact_items):
        saved = _touched_items(self, transact_items) if isinstance(transact_items, list) else []
        try:
            return original(self, transact_items)
        except BaseException:
            _restore(saved)  # DynamoDB applies all of a transaction or none of it
            raise

    transact_write_items.bounded = True
    return transact_write_items


def _untracked_dynamodb_new(original_new):
    def __new__(cls, *args, **kwargs):
        if cls.__module__.startswith('moto.dynamodb.'):
            return object.__new__(cls)
        return original_new(cls, *args, **kwargs)

    __new__.bounded = True
    return staticmethod(__new__)


def bound_moto_memory() -> None:
    """Keep moto's DynamoDB memory and latency proportional to the table, not to the writes so far.

    moto 5.2.5 (moto/dynamodb/models/__init__.py, DynamoDBBackend.transact_write_items) deep-copies
    the whole Table once per item of a TransactWriteItems as its undo record, and
    moto.core.common_models.BaseModel.__new__ appends every model object it ever makes (each
    Table and Item, copies included) to a class-level ``instances_tracked`` list that is only
    emptied when a mock_aws ends. So each create copied every item so far, several times, and kept
    the copies: memory grew with the square of the writes and each transaction got slower.
    moto has no setting for either. This function, idempotent, for this process:

    - makes transact_write_items keep a copy of the items it names (not of the table), and put
      them back if the transaction fails, so a transaction still applies entirely or not at all;
    - stops moto tracking DynamoDB model objects (Table, Item, indexes, backups), so replaced
      items are freed. The only reader of those lists is moto's dashboard (/moto-api/), which no
      longer lists DynamoDB objects; scan the table instead.
    """
    if not getattr(dynamodb_models.DynamoDBBackend.transact_write_items, 'bounded', False):
        dynamodb_models.DynamoDBBackend.transact_write_items = _transact_write_items(
            dynamodb_models.DynamoDBBackend.transact_write_items
        )
    dynamodb_models.copy = _TablesByReference()
    if not getattr(BaseModel.__new__, 'bounded', False):
        BaseModel.__new__ = _untracked_dynamodb_new(BaseModel.__new__)


class SerializedDynamoDB:
    """WSGI middleware: one DynamoDB request at a time (they carry X-Amz-Target: DynamoDB_...)."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if environ.get('HTTP_X_AMZ_TARGET', '').startswith('DynamoDB_'):
            with self.lock:
                # Consume the whole answer inside the lock: moto may build it lazily.
                return list(self.app(environ, start_response))
        return self.app(environ, start_response)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-H', '--host', default='127.0.0.1')
    parser.add_argument('-p', '--port', type=int, default=4570)
    args = parser.parse_args(argv)
    bound_moto_memory()
    os.environ.setdefault('MOTO_PORT', str(args.port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, SerializedDynamoDB(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == '__main__':
    main()
