"""python -m assetgate_cli: the same as the `assetgate` command."""

import sys

from assetgate_cli.main import main

sys.exit(main())
