"""``python -m extkit`` is the ``extkit`` command."""

import sys

from .cli import main

sys.exit(main())
