"""``python -m cli ...`` is the ``aftersales`` command."""

import sys

from cli.main import main

sys.exit(main())
