"""Password links: the stored scrypt hash, and the per-link guess limit.

A password is stored only as ``scrypt$<n>$<r>$<p>$<salt>$<hash>`` (hashlib.scrypt, standard library:
nothing to import at a cold start). n=2**14, r=8, p=1 takes 128 * n * r = 16 MiB and about 40-50 ms
on this machine (docs/api.md#password-links): far below a 512 MB Lambda's memory and the 100 ms goal,
and each guess costs an offline attacker the same.

Guessing is limited per link, whatever address guesses come from: wrong passwords count on the token
(``password_strikes``) with conditional writes, so however many race, the link locks after
``MAX_STRIKES`` counted ones (``locked_until``, a backoff doubling with each lock). A locked link is
refused before any hashing: guesses cost the guesser, not the Lambda.
"""

import base64
import hashlib
import hmac
import secrets

from chalicelib.errors import InvalidParameter, LinkLocked, WrongPassword
from chalicelib.storage import keys, models, writes

Token = models.Token
SCHEME = 'scrypt'
N, R, P = 2**14, 8, 1
SALT_BYTES = 16
HASH_BYTES = 32
MAX_MEMORY = 64 * 1024**2  # OpenSSL's default cap (32 MiB) is too close to 128 * n * r
MIN_LENGTH, MAX_LENGTH = 8, 1024
MAX_STRIKES = 5  # wrong passwords before the link locks
FIRST_LOCK = 30  # seconds; each further lock doubles it
LONGEST_LOCK = 24 * 60 * 60
ATTEMPTS = 3  # a failure's write refused by a concurrent one is tried again from a fresh read


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode('ascii')


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode('utf-8'), salt=salt, n=n, r=r, p=p, maxmem=MAX_MEMORY, dklen=HASH_BYTES)


def validate(password) -> str:
    """A password as the owner sets it: text of 8 to 1024 characters."""
    if not isinstance(password, str) or not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise InvalidParameter(
            f'password must be text of {MIN_LENGTH} to {MAX_LENGTH} characters.', parameter='password'
        )
    return password


def hash_password(password: str) -> str:
    """The stored form of a password: its parameters, a random salt and the scrypt hash."""
    salt = secrets.token_bytes(SALT_BYTES)
    return f'{SCHEME}${N}${R}${P}${_b64(salt)}${_b64(_derive(password, salt, N, R, P))}'


def matches(password: str, stored: str) -> bool:
    """Whether ``password`` is the one ``stored`` was made from (the stored parameters, not today's)."""
    scheme, n, r, p, salt, expected = stored.split('$')
    if scheme != SCHEME or not isinstance(password, str) or len(password) > MAX_LENGTH:
        return False
    derived = _derive(password, base64.b64decode(salt), int(n), int(r), int(p))
    return hmac.compare_digest(derived, base64.b64decode(expected))


def backoff(locks: int) -> int:
    """Seconds the link stays locked the (locks + 1)th time: 30 s, doubling, at most a day."""
    return min(FIRST_LOCK * 2 ** min(locks, 20), LONGEST_LOCK)


def refuse_if_locked(current: models.Token, now: int) -> None:
    until = int(current.locked_until or 0)
    if until > now:
        raise LinkLocked(retry_after=until - now)


def check(digest: str, current: models.Token, password, now: int) -> None:
    """Let a right password through; a wrong one is counted (and may lock the link) and refused.

    The lock is checked first, before any scrypt work."""
    refuse_if_locked(current, now)
    if isinstance(password, str) and matches(password, current.password_hash):
        return
    count_failure(digest, current, now)


def _open(now: int):
    return Token.ObjID.exists() & (Token.locked_until <= now)


def count_failure(digest: str, current: models.Token, now: int) -> None:
    """Count one wrong password and raise its answer: 401 wrong_password, or 429 link_locked once counted
    failures reach MAX_STRIKES. Two conditional UpdateItems, no transaction: a strike below the limit
    (condition ``strikes < MAX_STRIKES - 1``), else the locking one (``strikes = MAX_STRIKES - 1`` and the
    lock count as read), so among any number of racing guesses at most MAX_STRIKES are counted per lock."""
    key = keys.token(digest)
    for _ in range(ATTEMPTS):
        item = Token(*key)
        if writes.update_if(
            item,
            [Token.password_failures.add(1), Token.password_strikes.add(1)],
            _open(now) & (Token.password_strikes < MAX_STRIKES - 1),
        ):
            raise WrongPassword()
        locks = int(current.password_locks or 0)
        wait = backoff(locks)
        if writes.update_if(
            item,
            [
                Token.password_failures.add(1),
                Token.password_locks.add(1),
                Token.password_strikes.set(0),
                Token.locked_until.set(now + wait),
            ],
            _open(now) & (Token.password_strikes == MAX_STRIKES - 1) & (Token.password_locks == locks),
        ):
            raise LinkLocked(retry_after=wait)
        current = Token.get(*key, consistent_read=True)  # another guess changed it: locked now, or count again
        refuse_if_locked(current, now)
    raise WrongPassword()  # never counted: only under a storm of concurrent writes
