"""The chaos soak's driver (bench/soak.sh runs it; standard library only).

Starts `warp start` on the soak's Django app (127.0.0.1 only), measures its
capacity with wrk, then for DURATION seconds sends ~70 % of it (open loop:
requests go out on a schedule, whether earlier ones answered or not) while,
at random intervals, it SIGKILLs a worker, sends the supervisor SIGHUP
(rolling restart) or SIGUSR1, opens slowloris connections, sends oversized
bodies and malformed requests. --maximum-requests and --memory-limit (fed by
/grow) recycle workers on their own. Every loop is bounded in count and time;
every process started is stopped by its pid.

Reports per interval: requests, p50/p99, RSS and open fds of the server's
processes, zombies; and the failures, each matched by its request id: to
the `soak-req ID PID` line the app logged on arrival, or — a request the
worker had accepted but not yet handed to the app — to the connections the
worker held when it was killed (the driver stops it with SIGSTOP, reads its
sockets from /proc, then SIGKILLs it; each request's client port is
recorded). A failure is explained only when its id is tied so to a worker the
driver SIGKILLed while the request was in flight. With --check, exits 1 when
an assertion fails.
"""
import argparse
import http.client
import json
import os
import queue
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--warp", required=True)
    p.add_argument("--src", required=True)
    p.add_argument("--duration", type=float, default=600)
    p.add_argument("--interval", type=float, default=60, help="seconds per report row")
    p.add_argument("--load", type=float, default=0.7, help="fraction of the measured capacity")
    p.add_argument("--seed", type=int, default=14)
    p.add_argument("--out", required=True, help="directory for the log and the JSON report")
    p.add_argument("--check", action="store_true")
    return p.parse_args()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def proc_stat(pid):
    """(state, rss kB, open fds) of one process, None when gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            status = f.read()
        state = re.search(r"^State:\s+(\S)", status, re.M).group(1)
        rss = re.search(r"^VmRSS:\s+(\d+)", status, re.M)
        fds = len(os.listdir("/proc/%d/fd" % pid)) if state != "Z" else 0
        return state, int(rss.group(1)) if rss else 0, fds
    except (OSError, AttributeError):
        return None


class Server:
    def __init__(self, args, port, log_path, extra=()):
        self.log = open(log_path, "wb")
        cmd = [args.warp, "start", "--src", args.src, "soaksite.wsgi:application", "--host", "127.0.0.1",
               "--port", str(port), "--processes", "2", "--threads", "4",
               "--limit-request-body", "1MiB", "--header-timeout", "5",
               "--request-timeout", "30"] + list(extra)
        self.kept_dir = os.path.join(args.out, "kept")
        os.makedirs(self.kept_dir, exist_ok=True)
        for name in os.listdir(self.kept_dir):
            os.remove(os.path.join(self.kept_dir, name))
        env = dict(os.environ, SOAK_KEPT_DIR=self.kept_dir)
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)
        self.port = port
        self.fds_by_process = []  # at rest: {pid: open fds}, before and after

    def workers(self):
        return children(self.proc.pid)

    def stop(self):
        """SIGTERM by pid, then SIGKILL after 40 s; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return self.proc.wait()
        return self.proc.returncode


def get(port, path, rid, timeout=30, body=None, client_port=None):
    """One request on a new connection: (status or error text, seconds); the
    connection's own port is appended to `client_port` when given."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        if client_port is not None:
            conn.connect()
            client_port.append(conn.sock.getsockname()[1])
        headers = {"X-Request-Id": rid}
        conn.request("POST" if body is not None else "GET", path, body=body, headers=headers)
        r = conn.getresponse()
        r.read()
        return r.status, time.monotonic() - started
    except (OSError, http.client.HTTPException) as e:
        return "%s: %s" % (type(e).__name__, e), time.monotonic() - started
    finally:
        conn.close()


def held_connections(pid, port):
    """The client ports of the connections to `port` that the stopped
    process `pid` holds (its socket fds, looked up in /proc/PID/net/tcp*)."""
    # SIGSTOP is asynchronous: wait (at most 2 s) until every thread stopped.
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            states = []
            for task in os.listdir("/proc/%d/task" % pid):
                with open("/proc/%d/task/%s/stat" % (pid, task)) as f:
                    states.append(f.read().rsplit(")", 1)[1].split()[0])
        except OSError:
            break
        if all(s in "TtZX" for s in states):
            break
        time.sleep(0.002)
    inodes = set()
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return []
    for fd in fds:
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        try:
            with open("/proc/%d/net/%s" % (pid, table)) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            remote_port = int(remote.rsplit(":", 1)[1], 16)
            if inode in inodes and remote_port and int(local.rsplit(":", 1)[1], 16) == port:
                ports.add(remote_port)
    return sorted(ports)


def workers_ready(log_path, n, secs):
    """Wait (at most `secs`) until the supervisor logged `n` workers ready."""
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        with open(log_path, "rb") as f:
            if len(re.findall(rb"\) ready in ", f.read())) >= n:
                return True
        time.sleep(0.2)
    return False


def wait_up(server, secs):
    port = server.port
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline and server.proc.poll() is None:
        status, _ = get(port, "/work", "warmup", timeout=5)
        if status == 200:
            return True
        time.sleep(0.3)
    return False


def capacity(port, secs=6):
    """Requests/s of /work with 16 connections (wrk)."""
    out = subprocess.run(["wrk", "-t1", "-c16", "-d%ds" % secs, "--timeout", "10s",
                          "http://127.0.0.1:%d/work" % port],
                         capture_output=True, text=True, timeout=secs + 30).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        raise SystemExit("soak: wrk gave no rate:\n" + out)
    return float(m.group(1))


class Load:
    """Open-loop load: `rate` requests/s handed to a bounded thread pool."""

    def __init__(self, port, rate, rng, until, grow_share):
        self.port, self.rate, self.until, self.grow_share = port, rate, until, grow_share
        self.slots = queue.Queue(maxsize=2000)
        self.results = []  # (sent at, id, path, status, seconds, client port)
        self.lock = threading.Lock()
        self.rng = rng
        self.dropped = 0

    def run(self, t0):
        threads = [threading.Thread(target=self.worker, daemon=True) for _ in range(48)]
        for t in threads:
            t.start()
        n = 0
        next_at = time.monotonic()
        while time.monotonic() < self.until:
            n += 1
            path = "/grow" if self.rng.random() < self.grow_share else "/work"
            try:
                self.slots.put_nowait((n, path))
            except queue.Full:
                self.dropped += 1
            next_at += 1.0 / self.rate
            pause = next_at - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        for _ in threads:
            self.slots.put((None, None))
        for t in threads:
            t.join(60)
        self.t0 = t0

    def worker(self):
        while True:
            n, path = self.slots.get()
            if n is None:
                return
            sent = time.monotonic()
            rid = "soak-%d" % n
            cport = []
            status, secs = get(self.port, path, rid, client_port=cport)
            with self.lock:
                self.results.append((sent, rid, path, status, secs, cport[0] if cport else None))


class Chaos:
    """Faults at random intervals (2–6 s apart), each recorded."""

    def __init__(self, server, rng, until):
        self.server, self.rng, self.until = server, rng, until
        self.events = []  # (time, kind, detail)
        self.killed = set()
        self.held = []  # (time of the kill, pid, client ports it held)
        self.abuse = []  # (kind, outcome ok?, detail)
        self.threads = []

    def note(self, kind, detail=""):
        self.events.append((time.monotonic(), kind, detail))

    def run(self):
        kinds = ["kill", "hup", "usr1", "slowloris", "oversized", "malformed"]
        order = list(kinds)  # each kind once first, then at random
        for _ in range(10000):
            if time.monotonic() + 8 > self.until:
                break
            time.sleep(self.rng.uniform(2, 6))
            kind = order.pop(0) if order else self.rng.choice(kinds)
            getattr(self, kind)()
        for t in self.threads:
            t.join(60)

    def kill(self):
        workers = self.server.workers()
        if workers:
            pid = self.rng.choice(workers)
            # Frozen, it accepts nothing more: what it holds is what dies.
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                return  # it exited (recycled) since it was listed
            self.killed.add(pid)
            try:
                held = held_connections(pid, self.server.port)
            finally:
                os.kill(pid, signal.SIGKILL)
            self.held.append((time.monotonic(), pid, held))
            self.note("kill", pid)

    def hup(self):
        os.kill(self.server.proc.pid, signal.SIGHUP)
        self.note("hup")

    def usr1(self):
        for pid in self.server.workers():
            os.kill(pid, signal.SIGUSR1)
        self.note("usr1")

    def slowloris(self):
        def attack():
            socks = []
            for _ in range(20):
                try:
                    s = socket.create_connection(("127.0.0.1", self.server.port), timeout=5)
                    s.sendall(b"GET /work HTTP/1.1\r\nHost: x\r\n")
                    socks.append(s)
                except OSError:
                    pass
            closed = 0
            for _ in range(20):  # one header byte per second, at most 20 s
                time.sleep(1)
                for s in socks:
                    try:
                        s.sendall(b"X")
                    except OSError:
                        pass
            for s in socks:
                s.settimeout(1)
                try:
                    closed += s.recv(4096) is not None
                except OSError:
                    closed += 1
                s.close()
            # The header timeout (5 s) must have ended every one of them.
            self.abuse.append(("slowloris", closed == len(socks), "%d/%d ended by the server" % (closed, len(socks))))
        t = threading.Thread(target=attack, daemon=True)
        t.start()
        self.threads.append(t)
        self.note("slowloris")

    def oversized(self):
        status, _ = get(self.server.port, "/upload", "oversized", body=b"x" * (3 << 20))
        # 413 before the body is read; a client still writing may see the close instead.
        ok = status == 413 or (isinstance(status, str) and ("reset" in status.lower() or "pipe" in status.lower()))
        self.abuse.append(("oversized", ok, str(status)))
        self.note("oversized", status)

    def malformed(self):
        for raw in [b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
                    b"\x00\xffGARBAGE\r\n\r\n", b"GET /work HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
                    b"get /work HTTP/1.1\r\nHost: a\r\n\r\n"]:
            try:
                with socket.create_connection(("127.0.0.1", self.server.port), timeout=5) as s:
                    s.sendall(raw)
                    answer = s.recv(4096)
            except OSError as e:
                answer = str(e).encode()
            ok = answer.startswith(b"HTTP/1.1 400") or answer.startswith(b"HTTP/1.1 501")
            self.abuse.append(("malformed", ok, answer[:40].decode("latin-1")))
        self.note("malformed")


def kept_kb(kept_dir, pid):
    """What the app's /grow kept on purpose in worker `pid`, in kB."""
    try:
        with open(os.path.join(kept_dir, str(pid))) as f:
            return int(f.read() or 0) * 1024
    except (OSError, ValueError):
        return 0


class Sampler:
    """Once a second: the server's RSS (all processes), each worker's RSS net
    of what /grow kept on purpose (their mean), the supervisor's RSS, open fds
    of all processes, zombies."""

    def __init__(self, server, until):
        self.server, self.until = server, until
        # (time, rss kB, fds, zombies, processes, supervisor rss kB, mean worker net rss kB)
        self.samples = []

    def run(self):
        for _ in range(100000):
            if time.monotonic() > self.until:
                return
            pids = [self.server.proc.pid] + self.server.workers()
            rss = fds = zombies = alive = supervisor = 0
            nets = []
            for pid in pids:
                st = proc_stat(pid)
                if st is None:
                    continue
                if pid == self.server.proc.pid:
                    supervisor = st[1]
                elif st[0] != "Z":
                    nets.append(st[1] - kept_kb(self.server.kept_dir, pid))
                alive += 1
                rss += st[1]
                fds += st[2]
                zombies += st[0] == "Z"
            net = statistics.mean(nets) if nets else 0
            self.samples.append((time.monotonic(), rss, fds, zombies, alive, supervisor, net))
            time.sleep(1)


def fds_at_rest(server, settle, baseline=None):
    """Open fds of the supervisor and its workers once no request is in
    flight: the fewest seen over `settle` seconds (polled four times a
    second), stopping early once at or below `baseline`. A leak is what
    stays open at rest; under load the count follows the connections."""
    fewest, where = None, {}
    deadline = time.monotonic() + settle
    for _ in range(int(settle * 4) + 1):
        n, each = 0, {}
        for pid in [server.proc.pid] + server.workers():
            st = proc_stat(pid)
            if st is not None:
                n += st[2]
                each[pid] = st[2]
        if fewest is None or n < fewest:
            fewest, where = n, each
        if (baseline is not None and fewest <= baseline) or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    # Which process holds what (the supervisor first): a growth is read here.
    server.fds_by_process.append(where)
    return fewest


def pct(values, q):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main():
    args = parse_args()
    os.makedirs(args.out, exist_ok=True)
    log_path = os.path.join(args.out, "server.log")
    rng = random.Random(args.seed)
    # Capacity first, on a server without recycling.
    server = Server(args, free_port(), os.path.join(args.out, "capacity.log"))
    try:
        if not wait_up(server, 60):
            raise SystemExit("soak: the server did not come up; see %s/capacity.log" % args.out)
        cap = capacity(server.port)
    finally:
        server.stop()
        server.log.close()
    rate = max(5.0, cap * args.load)
    # Recycling sized to the rate so that both fire: a worker reaches
    # --maximum-requests after 10-15 s (jitter), and /grow (1 MiB kept per
    # call, 4 MiB/s per worker) brings it from ~50 MB to the 100 MiB memory
    # limit in about as long; whichever comes first replaces it.
    per_worker = rate / 2
    max_requests = int(per_worker * 10)
    grow_share = min(0.2, 4 / per_worker)
    port = free_port()
    server = Server(args, port, log_path, [
        "--maximum-requests", str(max_requests), "--maximum-requests-jitter", str(max_requests // 2),
        "--memory-limit", "100MiB"])
    try:
        if not wait_up(server, 60):
            raise SystemExit("soak: the server did not come up; see " + log_path)
        # The baseline once every worker is up: one answering is not enough
        # (a worker still importing the app holds half its fds — a CI run
        # judged 6 against 11 and saw a "growth").
        workers_ready(log_path, 2, 60)
        rest_before = fds_at_rest(server, 2)
        print("soak: capacity %.0f req/s (wrk, 16 connections); sending %.0f req/s for %.0f s "
              "(%.1f %% to /grow; --maximum-requests %d)" % (cap, rate, args.duration, 100 * grow_share, max_requests), flush=True)
        t0 = time.monotonic()
        until = t0 + args.duration
        load = Load(port, rate, rng, until, grow_share)
        chaos = Chaos(server, random.Random(args.seed + 1), until)
        sampler = Sampler(server, until)
        threads = [threading.Thread(target=x.run, args=a, daemon=True)
                   for x, a in ((load, (t0,)), (chaos, ()), (sampler, ()))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(args.duration + 120)
        time.sleep(1)
        final_zombies = sum((proc_stat(p) or ("?",))[0] == "Z" for p in server.workers())
        # Slowloris connections end at the header timeout (5 s) and a
        # replaced worker needs its startup: wait up to 20 s for the rest.
        rest_after = fds_at_rest(server, 20, rest_before)
    finally:
        code = server.stop()
        server.log.close()
    report(args, cap, rate, t0, load, chaos, sampler, log_path, code, final_zombies,
           (rest_before, rest_after, server.fds_by_process))


def report(args, cap, rate, t0, load, chaos, sampler, log_path, code, final_zombies, rest):
    with open(log_path, "rb") as f:
        log = f.read().decode("utf-8", "replace")
    arrived = {}
    for m in re.finditer(r"^soak-req (\S+) (\d+)$", log, re.M):
        arrived.setdefault(m.group(1), set()).add(int(m.group(2)))
    failures = [r for r in load.results if not (isinstance(r[3], int) and r[3] < 500)]
    # A failure is explained when its id was logged by a worker the driver
    # SIGKILLed (the request was in the app), or — a request that never
    # reached the app — when its connection (its client port) was held by a
    # worker at the moment the driver killed it, while the request was in
    # flight. Nothing is explained by timing alone.
    explained, unexplained = [], []
    for sent, rid, path, status, secs, cport in failures:
        pids = arrived.get(rid, set())
        ended = sent + secs
        entry = {"id": rid, "at": round(sent - t0, 2), "ended": round(ended - t0, 2),
                 "status": str(status), "worker": sorted(pids), "client_port": cport}
        holders = [pid for k, pid, held in chaos.held
                   if cport in held and sent <= k <= ended]
        if pids and pids <= chaos.killed:
            entry["why"] = "in the app of a SIGKILLed worker"
            explained.append(entry)
        elif not pids and holders:
            entry["why"] = "held (not yet in the app) by worker %d when it was SIGKILLed" % holders[0]
            entry["worker"] = holders
            explained.append(entry)
        else:
            unexplained.append(entry)
    rows = []
    n_rows = max(1, int(round(args.duration / args.interval)))
    for i in range(n_rows):
        lo, hi = t0 + i * args.interval, t0 + (i + 1) * args.interval
        lat = [r[4] * 1000 for r in load.results if lo <= r[0] < hi and r[3] == 200]
        sent = sum(lo <= r[0] < hi for r in load.results)
        samp = [s for s in sampler.samples if lo <= s[0] < hi]
        rows.append({
            "interval": i + 1, "sent": sent, "ok": len(lat),
            "p50_ms": round(pct(lat, 0.5), 1) if lat else None,
            "p99_ms": round(pct(lat, 0.99), 1) if lat else None,
            # RSS rises with /grow until the memory limit recycles a worker,
            # so the trend is read from each worker's RSS net of what /grow
            # kept, and from the supervisor's; fds from the interval's fewest
            # (the moments with the fewest connections in flight).
            "rss_mb": round(statistics.median(s[1] for s in samp) / 1024, 1) if samp else None,
            "worker_net_rss_mb": round(statistics.median(s[6] for s in samp) / 1024, 1) if samp else None,
            "supervisor_rss_mb": round(max(s[5] for s in samp) / 1024, 1) if samp else None,
            "fds": statistics.median(s[2] for s in samp) if samp else None,
            "fds_min": min(s[2] for s in samp) if samp else None,
            "zombies_max": max((s[3] for s in samp), default=0),
        })
    kinds = {}
    for _, kind, _ in chaos.events:
        kinds[kind] = kinds.get(kind, 0) + 1
    recycles = {
        "maximum-requests": len(re.findall(r"will be replaced: maximum-requests", log)),
        "memory-limit": len(re.findall(r"will be replaced: memory-limit", log)),
    }
    # A zombie seen in two samples in a row lived over a second: not reaped.
    lasting = sum(1 for a, b in zip(sampler.samples, sampler.samples[1:]) if a[3] and b[3])
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "duration_s": args.duration,
        "capacity_rps": round(cap), "rate_rps": round(rate), "sent": len(load.results),
        "not_sent_client_queue_full": load.dropped, "failed": len(failures),
        "failed_explained": explained, "failed_unexplained": unexplained,
        "faults": kinds, "events": [(round(t - t0, 2), k, str(d)) for t, k, d in chaos.events], "killed_workers": len(chaos.killed),
        "killed_holding": [(round(k - t0, 2), pid, held) for k, pid, held in chaos.held], "recycles_logged": recycles,
        "abuse": [{"kind": k, "ok": ok, "detail": d} for k, ok, d in chaos.abuse],
        "rows": rows, "fds_at_rest": {"before": rest[0], "after": rest[1], "by_process": rest[2]}, "zombies_lasting": lasting, "zombies_at_end": final_zombies,
        "server_exit": code,
    }
    with open(os.path.join(args.out, "report.json"), "w") as f:
        json.dump(result, f, indent=1)
    head = ["interval", "sent", "ok", "p50 ms", "p99 ms", "RSS MB", "worker net MB",
            "supervisor MB", "fds", "fds min", "zombies"]
    keys = ["interval", "sent", "ok", "p50_ms", "p99_ms", "rss_mb", "worker_net_rss_mb",
            "supervisor_rss_mb", "fds", "fds_min", "zombies_max"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(str(r[k]) for k in keys) + " |")
    print("sent %d, failed %d (%d in SIGKILLed workers, %d unexplained), faults %s, recycles %s, server exit %s"
          % (len(load.results), len(failures), len(explained), len(unexplained), kinds, recycles, code))
    print("open fds at rest: %s before the load, %s after it (by process: %s)" % rest)
    for u in unexplained[:20]:
        print("  unexplained failure:", u)
    for k, ok, d in chaos.abuse:
        if not ok:
            print("  abuse answered wrongly:", k, d)

    if not args.check:
        return
    problems = []
    if unexplained:
        problems.append("%d failures not in a SIGKILLed worker" % len(unexplained))
    for kind in ("kill", "hup", "usr1", "slowloris", "oversized", "malformed"):
        if not kinds.get(kind):
            problems.append("fault %s never fired" % kind)
    # Both rules race for each worker (whichever comes first replaces it), so
    # a short run (CI's 90 s) may see only one of them: it must see one; a
    # run of five minutes or more must see both.
    fired = [kind for kind, n in recycles.items() if n >= 1]
    if not fired or (args.duration >= 300 and len(fired) < 2):
        problems.append("recycling did not fire: %s" % recycles)
    bad = [a for a in chaos.abuse if not a[1]]
    if bad:
        problems.append("abusive requests answered wrongly: %s" % bad[:5])
    if lasting or final_zombies:
        problems.append("zombies: %d lasting samples, %d at the end" % (lasting, final_zombies))
    if len(rows) >= 3:
        for key in ("worker_net_rss_mb", "supervisor_rss_mb"):
            second, last = rows[1][key], rows[-1][key]
            if second and last and last > 1.1 * second:
                problems.append("%s grew: %s in the second interval, %s in the last" % (key, second, last))
    # fds are judged at rest: under load their count follows the connections
    # in flight, which a slow moment on a shared machine multiplies. Each
    # process may hold one more than at the start (a lazily opened file).
    if rest[0] is not None and rest[1] is not None and rest[1] > rest[0] + 3:
        problems.append("open fds at rest grew: %d before the load, %d after it (by process: %s)" % rest)
    if code != 0:
        problems.append("the server exited with %s after SIGTERM" % code)
    ok_share = 1 - len(failures) / max(1, len(load.results))
    if ok_share < 0.99:
        problems.append("only %.1f %% answered" % (100 * ok_share))
    if problems:
        print("soak: FAILED:\n  " + "\n  ".join(problems))
        sys.exit(1)
    print("soak: all assertions hold")


if __name__ == "__main__":
    main()
