"""assetgate's Lambda code, in floors that import only downward (docs/data-design.md, "Code layout").

Importing it lets the cyclic garbage collector's youngest generation grow to 100,000 objects
before a collection, instead of 700. A cold start builds ~80,000 objects that live as long as the
process (modules, botocore's service models, PynamoDB's models, the routes); at the default
threshold the collector walks them again and again while they load, ~30 ms of a cold first
redeem (`make bench`, docs/packaging.md). Reference counting still frees at once everything that
is not part of a cycle; only cyclic garbage waits longer for its collection.
"""

import gc

YOUNG_GENERATION_THRESHOLD = 100_000

gc.set_threshold(YOUNG_GENERATION_THRESHOLD, *gc.get_threshold()[1:])
