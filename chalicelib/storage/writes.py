"""Conditional writes and transactions: a refused condition is a domain answer, never a 503."""

from contextlib import contextmanager
from typing import NamedTuple

from botocore.exceptions import ClientError
from pynamodb.exceptions import DeleteError, TransactWriteError, UpdateError
from pynamodb.expressions.update import Update
from pynamodb.transactions import TransactWrite

from chalicelib.errors import AssetgateError, Conflict
from chalicelib.storage import models

REFUSED = 'ConditionalCheckFailedException'


def _code(exc) -> str | None:
    """The DynamoDB error code behind a PynamoDB error; None for a timeout or a connection failure
    (PynamoDB's own cause_response_code fails on those: their ``response`` is None)."""
    return exc.cause_response_code if isinstance(exc.cause, ClientError) else None


def _applied(write, refused: type[AssetgateError] | None) -> bool:
    """Run one conditional write: True when applied. When its condition refuses it, raise ``refused``
    if given, else answer False. Any other failure is left to the caller (a 503)."""
    try:
        write()
    except (UpdateError, DeleteError) as exc:
        if _code(exc) != REFUSED:
            raise
        if refused is not None:
            raise refused() from None
        return False
    return True


def update_if(item, actions: list, condition, refused: type[AssetgateError] | None = None) -> bool:
    """One conditional UpdateItem, with _applied's answers."""
    return _applied(lambda: item.update(actions=actions, condition=condition), refused)


class Prepared(NamedTuple):
    """A conditional UpdateItem serialized once by PynamoDB's expression builder (``prepare``)."""

    update: str
    condition: str
    names: dict
    values: dict
    slots: dict  # parameter name -> the placeholders its value fills at each call


def prepare(actions: list, condition, **parameters: int) -> Prepared:
    """Serialize ``actions`` and ``condition`` once, for a request sent many times (``update_prepared``).

    ``parameters`` name the numbers that change from call to call: the condition is built with a
    stand-in number for each (``name=stand_in``), and each call sends its own value in that place."""
    names, values = {}, {}
    condition_expression = condition.serialize(names, values)
    update_expression = Update(*actions).serialize(names, values)
    slots = {}
    for name, stand_in in parameters.items():
        # The stand-in may appear several times (``expires > now`` and ``locked_until <= now``): each is filled.
        slots[name] = tuple(placeholder for placeholder, value in values.items() if value == {'N': str(stand_in)})
        assert slots[name], f'{name} is not in the condition'
    return Prepared(update_expression, condition_expression, {v: k for k, v in names.items()}, values, slots)


def update_prepared(model: type, key: tuple[str, str], prepared: Prepared, **parameters: int) -> dict | None:
    """One conditional UpdateItem of a prepared request: the item's new attributes as DynamoDB sends
    them, or None when the condition refused it. Any other failure is left to the caller (a 503).

    For the hot path (a redeem): straight to PynamoDB's botocore client, skipping the serialization of
    the expressions and the model's deserialization of the whole item on every call."""
    values = dict(prepared.values)
    for name, value in parameters.items():
        for slot in prepared.slots[name]:
            values[slot] = {'N': str(value)}
    hash_key, range_key = models.key_names(model)
    try:
        answer = models.connection().client.update_item(
            TableName=model.Meta.table_name,
            Key={hash_key: {'S': key[0]}, range_key: {'S': key[1]}},
            UpdateExpression=prepared.update,
            ConditionExpression=prepared.condition,
            ExpressionAttributeNames=prepared.names,
            ExpressionAttributeValues=values,
            ReturnValues='ALL_NEW',
        )
    except ClientError as exc:
        if exc.response.get('Error', {}).get('Code') != REFUSED:
            raise
        return None
    return answer['Attributes']


def delete_if(item, condition, refused: type[AssetgateError] | None = None) -> bool:
    """One conditional DeleteItem, with _applied's answers."""
    return _applied(lambda: item.delete(condition=condition), refused)


@contextmanager
def transaction(refused: type[AssetgateError] = Conflict):
    """A TransactWriteItems. Cancelled by one of its conditions: ``refused``; cancelled by a
    concurrent transaction on the same items: Conflict. Nothing of it was written either way."""
    try:
        with TransactWrite(connection=models.connection()) as tx:
            yield tx
    except TransactWriteError as exc:
        if _code(exc) != 'TransactionCanceledException':
            raise
        if any(reason is not None and reason.code == 'ConditionalCheckFailed' for reason in exc.cancellation_reasons):
            raise refused() from None
        raise Conflict() from None
