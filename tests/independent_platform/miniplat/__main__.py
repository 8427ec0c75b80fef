"""``python -m miniplat ...`` or ``python path/to/miniplat ...`` (the directory run as a script)."""

from __future__ import annotations

import os
import sys

if not __package__:
    # Run as a directory: its own folder is sys.path[0]; import the package from its parent instead.
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]
    sys.path.insert(0, os.path.dirname(_here))

from miniplat.cli import main

if __name__ == "__main__":
    sys.exit(main())
