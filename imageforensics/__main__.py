"""Entry point for ``python3 -m imageforensics``."""

import sys

from imageforensics.cli import main

sys.exit(main())
