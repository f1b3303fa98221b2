"""``python -m sparsemeta.cli``: the same as the ``sparsemeta`` console script."""

import sys

from sparsemeta.cli import main

sys.exit(main())
