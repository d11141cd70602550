"""warp's WSGI server, as seen from Python.

The heavy lifting is in the Rust extension ``warpserver._core``; this package
holds the small pure-Python parts (the worker entry point, the Django command).
"""
from warpserver._core import version  # noqa: F401
