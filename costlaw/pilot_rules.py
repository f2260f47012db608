"""Names of the pilot transfer rules (``costlaw.pilot``), importable without pandas: the command line offers them
as choices while building its parser."""
from __future__ import annotations

RULES = ("headroom", "absolute", "loglinear", "pilot")
"""How a method's gain transfers to the pilot's size (see ``costlaw.pilot``)."""
