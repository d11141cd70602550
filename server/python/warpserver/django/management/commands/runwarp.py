"""``python manage.py runwarp [ADDR:]PORT``: serve this Django project with
warp's worker — one process on the given address, WSGI_APPLICATION as the
target and STATIC_URL mapped to STATIC_ROOT (served without Python), the
same server `warp start` runs in production."""
import json
import os
import socket
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Serve the project with warp's WSGI server (like runmodwsgi)."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000",
                            help="[ADDR:]PORT to listen on (default 127.0.0.1:8000)")
        parser.add_argument("--threads", type=int, default=5)
        parser.add_argument("--url-alias", nargs=2, action="append", default=[],
                            metavar=("URL", "DIR"), help="serve DIR at URL (repeatable)")
        parser.add_argument("--access-log", action="store_true")
        parser.add_argument("--request-timeout", type=float, default=60)
        parser.add_argument("--queue-timeout", type=float, default=45)
        parser.add_argument("--enable-debugger", action="store_true",
                            help="post-mortem pdb on this terminal for an exception "
                                 "(1 thread, no request or queue timeout)")

    def handle(self, *args, **options):
        host, _, port = options["addrport"].rpartition(":")
        host = host or "127.0.0.1"
        try:
            port = int(port)
        except ValueError:
            raise CommandError("%r is not a port number" % options["addrport"])
        if options["threads"] < 1:
            raise CommandError("--threads must be at least 1")
        target = getattr(settings, "WSGI_APPLICATION", None)
        if not target:
            raise CommandError("settings.WSGI_APPLICATION is not set")
        module, _, name = target.rpartition(".")
        config = {
            "target": "%s:%s" % (module, name),
            "threads": options["threads"],
            "url_aliases": [list(pair) for pair in options["url_alias"]],
            "access_log": options["access_log"],
            "request_timeout": options["request_timeout"],
            "queue_timeout": options["queue_timeout"],
            "working_directory": os.getcwd(),
            "python_path": [os.getcwd()],
        }
        if options["enable_debugger"]:
            # As `warp start --enable-debugger`: the worker runs one thread
            # without request/queue timeouts; its stdin is this terminal.
            config["debugger"] = True
            config["threads"] = options["threads"] = 1
        static_url = getattr(settings, "STATIC_URL", None)
        static_root = getattr(settings, "STATIC_ROOT", None)
        if static_url and static_root and not static_url.startswith(("http:", "https:", "//")):
            config["django_static"] = {"url": "/" + static_url.lstrip("/"), "root": str(static_root)}
        try:
            sock = socket.create_server((host, port), backlog=500)
        except OSError as error:
            raise CommandError("cannot listen on %s:%d: %s" % (host, port, error))
        if sock.fileno() != 3:
            os.dup2(sock.fileno(), 3)
        os.set_inheritable(3, True)
        os.environ["WARPSERVER_CONFIG"] = json.dumps(config)
        self.stdout.write("warp: serving %s on http://%s:%d/ (%d threads)"
                          % (target, host, port, options["threads"]))
        self.stdout.flush()
        os.execv(sys.executable, [sys.executable, "-m", "warpserver.worker"])
