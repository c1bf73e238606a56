"""S3's size limits and the multipart part plan, which every upload respects.

A single PUT takes at most 5 GiB; a multipart upload has at most 10,000 parts of 5 MiB to
5 GiB each (the last part may be smaller), and an object is at most 5 TiB.
"""

import base64
import math
import re
from typing import NamedTuple

MiB = 1024**2
GiB = 1024**3
TiB = 1024**4
MIN_PART = 5 * MiB
MAX_PART = 5 * GiB
MAX_PARTS = 10_000
MAX_OBJECT = 5 * TiB
MAX_SINGLE_PUT = 5 * GiB
METHODS = ('put', 'post', 'multipart')
# A SHA-256 as hex (64 digits) or base64 (43 characters and one "="): the one rule. sha256_base64
# applies it whole (fullmatch); the OpenAPI document publishes it anchored, ^(?:...)$.
SHA256 = r'[0-9a-fA-F]{64}|[A-Za-z0-9+/]{43}='


class PartPlan(NamedTuple):
    """Parts of ``part_size`` bytes. ``size`` and ``part_count`` are None for an upload of unknown
    length (stdin): then every part but the last is exactly part_size, and at most MAX_PARTS."""

    part_size: int
    part_count: int | None
    size: int | None

    @property
    def max_size(self) -> int:
        return self.size if self.size is not None else self.part_size * MAX_PARTS

    def length_of(self, number: int) -> int:
        """Bytes in part ``number`` (1-based) of a known-length upload: every part is part_size but the last."""
        if number < self.part_count:
            return self.part_size
        return self.size - self.part_size * (self.part_count - 1)


def plan_parts(size: int, preferred: int) -> PartPlan:
    """Part size and count for ``size`` bytes: the preferred size, grown until 10,000 parts suffice."""
    if size < 1 or size > MAX_OBJECT:
        raise ValueError(f'a multipart object holds 1 byte to 5 TiB, not {size}')
    part = max(preferred, MIN_PART, math.ceil(size / MAX_PARTS))
    part = math.ceil(part / MiB) * MiB  # whole MiB: easy for clients to slice
    part = min(part, MAX_PART)
    count = math.ceil(size / part)
    assert count <= MAX_PARTS
    return PartPlan(part_size=part, part_count=count, size=size)


def plan_unknown(preferred: int, max_size: int) -> PartPlan:
    """The plan of an upload whose length is not known yet: the preferred part size in whole MiB,
    so the largest such upload (10,000 parts) is part_size x 10,000, and never above ``max_size``."""
    part = min(max(math.ceil(preferred / MiB) * MiB, MIN_PART), MAX_PART)
    return PartPlan(part_size=part, part_count=None, size=None)


def sha256_base64(value: str) -> str | None:
    """A SHA-256 given as hex or base64, as the base64 S3 wants; None if it is neither."""
    if not re.fullmatch(SHA256, value):
        return None
    return base64.b64encode(bytes.fromhex(value)).decode() if len(value) == 64 else value
