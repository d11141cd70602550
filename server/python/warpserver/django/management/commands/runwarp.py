"""``python manage.py runwarp [[ADDR:]PORT] [warp start options]``: serve this
Django project with ``warp start``, as mod_wsgi's ``runmodwsgi`` runs
``mod_wsgi-express start-server``.

This command only fills in what Django knows and then becomes ``warp start``
(``os.execv``: signals, the terminal for ``--enable-debugger``'s pdb and the
exit status are warp's):

- the target from ``settings.WSGI_APPLICATION`` (``pkg.wsgi.application`` is
  ``pkg.wsgi:application``), the project directory (where manage.py is) as
  ``--src`` — the workers' working directory and first on their path —, and
  ``--python-path`` for Django's ``--pythonpath``;
- ``--worker-python``: the interpreter running manage.py runs the workers;
- ``--host``/``--port`` from ``[ADDR:]PORT``, read as ``runserver`` reads it;
  when given it comes first; without it 127.0.0.1 and 8000, unless warp's own
  ``--host``/``--port`` are on the command line;
- ``--url-alias STATIC_URL STATIC_ROOT`` when both are set and STATIC_ROOT
  exists, unless the command line maps that URL itself.

Every other argument goes to ``warp start`` unchanged, so its options, defaults
and error messages are warp's own; Django's options (``--settings``,
``--pythonpath``, ``--verbosity``, ``--skip-checks`` …) are Django's.

The ``warp`` run is ``$WARP_BIN``, else the binary that installed this package
(it names itself in ``warpserver/installed-by-warp``), else ``warp`` on PATH.
"""
import os
import shutil
import subprocess
import sys

import warpserver
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.core.management.commands.runserver import naiveip_re

DEFAULT_ADDR, DEFAULT_PORT = "127.0.0.1", "8000"
# Written by `serve::extension::install` in the warp binary.
INSTALLED_BY = os.path.join(os.path.dirname(os.path.abspath(warpserver.__file__)),
                            "installed-by-warp")


class Command(BaseCommand):
    help = ("Serve the project with warp's WSGI server (like runmodwsgi): "
            "[ADDR:]PORT first, then any `warp start` option.")

    def create_parser(self, prog_name, subcommand, **kwargs):
        # No abbreviations: warp's --python-path must not be taken for --pythonpath.
        parser = super().create_parser(prog_name, subcommand, allow_abbrev=False, **kwargs)
        parser.usage = "%(prog)s [[ADDR:]PORT] [warp start options] [Django options]"
        parse_known_args, django_help = parser.parse_known_args, parser.print_help

        def parse_args(args=None, namespace=None):
            options, warp_args = parse_known_args(args, namespace)
            options.warp_args = warp_args
            return options

        def print_help(file=None):
            django_help(file)
            out = file or sys.stdout
            out.write("\nwarp start options (runwarp sets TARGET, --src and --worker-python, and "
                      "--host/--port from [ADDR:]PORT, default %s:%s):\n\n"
                      % (DEFAULT_ADDR, DEFAULT_PORT))
            out.flush()
            try:
                warp = find_warp()
            except CommandError as error:
                out.write("%s\n" % error)
                return
            subprocess.run([warp, "start", "--help"], stdout=out, check=False)

        parser.parse_args, parser.print_help = parse_args, print_help
        return parser

    def handle(self, *args, warp_args=(), **options):
        warp_args = list(warp_args)
        argv = [find_warp(), "start", wsgi_target(),
                "--src", project_directory(),
                "--worker-python", sys.executable]
        if warp_args and not warp_args[0].startswith("-"):
            host, port = parse_addrport(warp_args.pop(0))
            argv += ["--host", host, "--port", port]
        else:
            # runserver's defaults, where the command line does not say
            # otherwise with warp's own --host/--port.
            given = {arg.split("=", 1)[0] for arg in warp_args}
            argv += [] if "--host" in given else ["--host", DEFAULT_ADDR]
            argv += [] if "--port" in given else ["--port", DEFAULT_PORT]
        if options.get("pythonpath"):
            argv += ["--python-path", os.path.abspath(options["pythonpath"])]
        argv += static_alias(warp_args) + warp_args
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(argv[0], argv)


def parse_addrport(addrport):
    """``[ADDR:]PORT`` as runserver reads it: ``8000``, ``0.0.0.0:8000``,
    ``[::1]:8000``, ``localhost:8000``; ``0`` is every IPv4 address."""
    match = naiveip_re.match(addrport)
    if match is None:
        raise CommandError('"%s" is not a valid port number or address:port pair.' % addrport)
    addr, port = match["addr"], match["port"]
    if not addr:
        addr = DEFAULT_ADDR
    elif match["ipv6"]:
        addr = addr[1:-1]
    elif addr == "0":
        addr = "0.0.0.0"
    return addr, port


def wsgi_target():
    target = getattr(settings, "WSGI_APPLICATION", None)
    if not target or "." not in target:
        raise CommandError("settings.WSGI_APPLICATION is not set (e.g. 'mysite.wsgi.application')")
    module, _, name = target.rpartition(".")
    return "%s:%s" % (module, name)


def project_directory():
    """Where manage.py is; the current directory for django-admin."""
    script = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if os.path.basename(script) == "manage.py":
        return os.path.dirname(script)
    return os.getcwd()


def static_alias(warp_args):
    """``--url-alias STATIC_URL STATIC_ROOT``, as ``warp start`` maps it for a
    built Django app; nothing when the command line maps that URL itself."""
    url = getattr(settings, "STATIC_URL", None)
    root = getattr(settings, "STATIC_ROOT", None)
    if not url or not root or url.startswith(("http:", "https:", "//")):
        return []
    url = "/" + str(url).strip("/")
    for i, arg in enumerate(warp_args[:-1]):
        if arg == "--url-alias" and "/" + warp_args[i + 1].strip("/") == url:
            return []
    if not os.path.isdir(root):
        sys.stderr.write("warp: Django's STATIC_ROOT %s does not exist; %s/ is not served "
                         "(run `manage.py collectstatic`)\n" % (root, url))
        return []
    return ["--url-alias", url, os.path.abspath(str(root))]


def find_warp():
    """``$WARP_BIN``, else the warp that installed this package, else ``warp`` on PATH."""
    named = os.environ.get("WARP_BIN")
    if named:
        if not (os.path.isfile(named) and os.access(named, os.X_OK)):
            raise CommandError("WARP_BIN=%s is not an executable file "
                               "(set it to the path of the warp binary)" % named)
        return named
    try:
        with open(INSTALLED_BY) as file:
            installed_by = file.read().strip()
    except OSError:
        installed_by = ""
    if installed_by and os.path.isfile(installed_by) and os.access(installed_by, os.X_OK):
        return installed_by
    on_path = shutil.which("warp")
    if on_path:
        return on_path
    raise CommandError("warp was not found: WARP_BIN is not set, %s, and there is no warp on PATH "
                       "(hint: set WARP_BIN to the warp binary or put warp on PATH)"
                       % ("the warp that installed warpserver (%s) is gone" % installed_by
                          if installed_by else "warpserver was not installed by warp"))
