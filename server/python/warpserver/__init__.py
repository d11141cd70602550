"""warp's WSGI server, as seen from Python.

The heavy lifting is in the Rust extension ``warpserver._core``; this package
holds the small pure-Python parts (the worker entry point, the Django command)
and the mod_wsgi-style monitoring API.
"""
import sys

if sys.version_info >= (3, 9):
    from warpserver._core import (  # noqa: F401
        FileWrapper,
        process_metrics,
        request_metrics,
        subscribe_events,
        version,
    )
# On an older Python the extension (built for the 3.9 stable ABI) is not
# imported at all, so ``python -m warpserver.worker`` can say clearly why it
# refuses to run instead of failing inside the import.
