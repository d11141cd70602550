"""Run one warp worker on HOST:PORT without the supervisor (for benchmarks
until `warp start` is merged): binds the socket, puts it on fd 3 and execs
``python -m warpserver.worker``. Usage:
    PYTHONPATH=<dir with warpserver/> python launch_worker.py HOST PORT TARGET [THREADS] [EXTRA_JSON]
"""
import json
import os
import socket
import sys

host, port, target = sys.argv[1], int(sys.argv[2]), sys.argv[3]
threads = int(sys.argv[4]) if len(sys.argv) > 4 else 1
extra = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind((host, port))
sock.listen(1024)
if sock.fileno() != 3:
    os.dup2(sock.fileno(), 3)
os.set_inheritable(3, True)
config = {"target": target, "threads": threads}
config.update(extra)
os.environ["WARPSERVER_CONFIG"] = json.dumps(config)
os.execv(sys.executable, [sys.executable, "-m", "warpserver.worker"])
