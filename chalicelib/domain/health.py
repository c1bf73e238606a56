"""Whether the service can reach its table and its bucket."""

from chalicelib.config import Settings
from chalicelib.storage import keys, models, objects


def check(s: Settings) -> dict:
    """One GetItem on the table and one HeadBucket; a failure of either is a dependency failure (503)."""
    try:
        models.ApiKey.get(*keys.health())
    except models.ApiKey.DoesNotExist:
        pass
    objects.bucket_reachable(s)
    return {'status': 'ok', 'table': s.table, 'bucket': s.bucket}
