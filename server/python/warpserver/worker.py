"""Entry point of one warp worker process: ``python -m warpserver.worker``.

Started by ``warp start`` (the supervisor) with the listening socket on fd 3,
a status pipe on fd 4 (JSON lines to the supervisor) and the settings as JSON
in ``WARPSERVER_CONFIG``. It imports the app (a traceback and exit 1 when that
fails, and never "ready"), says ``{"event": "ready"}``, then hands the app to
the Rust server core until SIGTERM/SIGINT or a recycle.
"""
import os
import signal
import stat
import sys

# SIGUSR1 (a state dump) and SIGHUP (the supervisor's business) must not kill
# a worker that is still importing the app, as their default action would
# (the chaos soak found it: `failed to start (was killed by signal SIGUSR1)`).
# The Rust server installs its own handlers for both when it starts serving.
signal.signal(signal.SIGUSR1, signal.SIG_IGN)
signal.signal(signal.SIGHUP, signal.SIG_IGN)

LISTEN_FD = 3
STATUS_FD = 4


def _die(message, code=2):
    sys.stderr.write("warpserver: %s\n" % message)
    sys.stderr.flush()
    return code


def _fd_mode(fd):
    try:
        return os.fstat(fd).st_mode
    except OSError:
        return None


def load_application(target, callable_object="application"):
    """The WSGI callable named by ``module:callable``, a module name (its
    ``application``), or a path to a WSGI script file."""
    import importlib
    import importlib.util

    if target.endswith(".py") or os.path.sep in target and os.path.isfile(target):
        path = os.path.abspath(target)
        if not os.path.isfile(path):
            raise FileNotFoundError("WSGI script %s does not exist" % path)
        directory = os.path.dirname(path)
        if directory not in sys.path:
            sys.path.insert(0, directory)
        spec = importlib.util.spec_from_file_location("_warpserver_wsgi_script", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        name = callable_object
        where = path
    else:
        module_name, _, name = target.partition(":")
        name = name or callable_object
        module = importlib.import_module(module_name)
        where = module_name
    app = module
    for part in name.split("."):
        if not hasattr(app, part):
            raise LookupError("%s has no attribute %r" % (where, name))
        app = getattr(app, part)
    return app


def _post_mortem(environ):
    """The traceback, then pdb on the current exception, on the terminal
    (stdin/stdout are the supervisor's with --enable-debugger). Returns when
    the user continues or quits; the caller re-raises, so the request still
    gets its 500 and the error log its traceback."""
    import pdb
    import traceback

    _, error, tb = sys.exc_info()
    # Leave out the debugger's own frames: the traceback starts in the app.
    while tb is not None and tb.tb_next is not None and tb.tb_frame.f_globals is globals():
        tb = tb.tb_next
    sys.stdout.write(
        "warpserver: exception in the application (%s %s), entering post-mortem pdb "
        "(c or q continues: the request gets a 500)\n"
        % (environ.get("REQUEST_METHOD", "?"), environ.get("PATH_INFO", "?")))
    traceback.print_exception(type(error), error, tb, file=sys.stdout)
    sys.stdout.flush()
    pdb.post_mortem(tb)
    sys.stdout.flush()


class _DebuggedIterable:
    """A response iterable whose iteration and close() go through the
    post-mortem debugger too (exceptions raised by a generator view)."""

    def __init__(self, result, environ):
        self._result = result
        self._environ = environ

    def __iter__(self):
        try:
            for item in self._result:
                yield item
        except Exception:
            _post_mortem(self._environ)
            raise

    def close(self):
        close = getattr(self._result, "close", None)
        if close is None:
            return
        try:
            close()
        except Exception:
            _post_mortem(self._environ)
            raise


class PostMortemDebugger:
    """--enable-debugger (mod_wsgi-express's PostMortemDebugger): pdb on the
    terminal for an exception raised by the app, then the exception goes on
    as usual (500 and the error log). Lists, tuples and wsgi.file_wrapper
    results pass through unwrapped, so the server's fast paths still apply."""

    def __init__(self, application):
        self.application = application

    def __call__(self, environ, start_response):
        try:
            result = self.application(environ, start_response)
        except Exception:
            _post_mortem(environ)
            raise
        file_wrapper = environ.get("wsgi.file_wrapper")
        if isinstance(result, (list, tuple)) or (
                isinstance(file_wrapper, type) and isinstance(result, file_wrapper)):
            return result
        return _DebuggedIterable(result, environ)


def _take_over_log_fd():
    """Once ready, write the error log straight to the supervisor's stderr
    (fd WARPSERVER_LOG_FD) instead of through the pipe it reads while we start."""
    raw = os.environ.get("WARPSERVER_LOG_FD")
    if not raw or not raw.isdigit() or _fd_mode(int(raw)) is None:
        return
    sys.stderr.flush()
    os.dup2(int(raw), 2)
    os.close(int(raw))


def status(event, **fields):
    """One JSON line to the supervisor, when there is a status pipe."""
    import json

    mode = _fd_mode(STATUS_FD)
    if mode is None or not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        return
    fields["event"] = event
    try:
        os.write(STATUS_FD, (json.dumps(fields) + "\n").encode())
    except OSError:
        pass


def main():
    if sys.version_info < (3, 9):
        return _die(
            "Python %d.%d is too old: warp's server needs CPython 3.9 or newer "
            "(recreate the virtualenv with a newer python)" % sys.version_info[:2]
        )
    from warpserver import _core

    raw = os.environ.get("WARPSERVER_CONFIG", "{}")
    try:
        config = _core.parse_config(raw)
    except ValueError as error:
        return _die(str(error))
    mode = _fd_mode(LISTEN_FD)
    if mode is None or not stat.S_ISSOCK(mode):
        return _die(
            "fd %d is not a listening socket: workers are started by `warp start`" % LISTEN_FD
        )
    status_mode = _fd_mode(STATUS_FD)
    status_fd = STATUS_FD if status_mode is not None and (
        stat.S_ISFIFO(status_mode) or stat.S_ISSOCK(status_mode)) else None

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True)
        except (AttributeError, ValueError):
            pass
    if config.get("working_directory"):
        os.chdir(config["working_directory"])
    for entry in reversed(config.get("python_path") or []):
        sys.path.insert(0, entry)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())

    target = config.get("target") or ""
    if not target:
        return _die("no target in WARPSERVER_CONFIG (module:callable or a script path)")
    try:
        app = load_application(target, config.get("callable_object") or "application")
    except BaseException:
        import traceback

        sys.stderr.write("warpserver: could not load the application %r:\n" % target)
        traceback.print_exc()
        sys.stderr.flush()
        return 1
    if not callable(app):
        return _die(
            "%r is not callable (it is a %s): name a WSGI application object"
            % (target, type(app).__name__), 1)

    if config.get("debugger"):
        app = PostMortemDebugger(app)

    status("ready", pid=os.getpid(), worker_id=os.environ.get("WARPSERVER_WORKER_ID"))
    _take_over_log_fd()
    reason = _core.serve(app, raw, LISTEN_FD, status_fd)
    _core.publish_event("process_stopping", {"shutdown_reason": reason})
    sys.stdout.flush()
    sys.stderr.flush()
    # Threads still stuck in the app (a request-timeout) must not hold the exit.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
