"""``python -m costlaw.harness sweep CONFIG --out DIR`` (the same as ``costlaw sweep``)."""
import sys

from .cli import main

sys.exit(main())
