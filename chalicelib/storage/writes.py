"""Conditional writes and transactions: a refused condition is a domain answer, never a 503."""

from contextlib import contextmanager

from botocore.exceptions import ClientError
from pynamodb.exceptions import DeleteError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.errors import AssetgateError, Conflict
from chalicelib.storage import models

REFUSED = 'ConditionalCheckFailedException'


def _code(exc) -> str | None:
    """The DynamoDB error code behind a PynamoDB error; None for a timeout or a connection failure
    (PynamoDB's own cause_response_code fails on those: their ``response`` is None)."""
    return exc.cause_response_code if isinstance(exc.cause, ClientError) else None


def update_if(item, actions: list, condition, refused: type[AssetgateError] | None = None) -> bool:
    """One conditional UpdateItem: True when applied. When the condition refuses it, raise
    ``refused`` if given, else answer False. Any other failure is left to the caller (a 503)."""
    try:
        item.update(actions=actions, condition=condition)
    except UpdateError as exc:
        if _code(exc) != REFUSED:
            raise
        if refused is not None:
            raise refused() from None
        return False
    return True


def delete_if(item, condition, refused: type[AssetgateError] | None = None) -> bool:
    """One conditional DeleteItem, with update_if's answers."""
    try:
        item.delete(condition=condition)
    except DeleteError as exc:
        if _code(exc) != REFUSED:
            raise
        if refused is not None:
            raise refused() from None
        return False
    return True


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
