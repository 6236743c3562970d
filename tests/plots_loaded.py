"""matplotlib loaded once in the test process, so pytester's in-process runs can draw plots.

pytester unloads the modules an in-process run imported, and numpy (under matplotlib) cannot
be imported twice in one process: a second run that plots would fail to import it. Imported
here, when a module that plots is collected, they stay loaded across every run.
"""

from __future__ import annotations

import contextlib
import importlib.util

PLOTS = importlib.util.find_spec("matplotlib") is not None

with contextlib.suppress(ImportError):
    import matplotlib.backends.backend_agg
    import matplotlib.figure  # noqa: F401
