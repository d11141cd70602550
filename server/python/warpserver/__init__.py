"""warp's WSGI server, as seen from Python.

The heavy lifting is in the Rust extension ``warpserver._core``; this package
holds the small pure-Python parts (the worker entry point, the Django command)
and the mod_wsgi-style monitoring API.
"""
from warpserver._core import (  # noqa: F401
    FileWrapper,
    process_metrics,
    request_metrics,
    subscribe_events,
    version,
)
