"""Write the seed corpora of the fuzz targets (run once; the files are kept in
the repository, fuzz/corpus/TARGET/seed-*). Small on purpose: libFuzzer grows
its own corpus from them in fuzz/corpus at run time (not committed)."""
import io, os, tarfile

here = os.path.dirname(os.path.abspath(__file__))

def put(target, name, data):
    d = os.path.join(here, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())

refs = ["python", "python:3.12", "docker.io/library/python:3.12-slim-bookworm",
        "localhost:5000/team/app:1", "127.0.0.1:5000/a/b/c@sha256:" + "ab" * 32,
        "docker://quay.io/x/y:latest", "oci:dir:tag", "oci-archive:f.tar", "docker-archive:",
        "[::1]:5000/app", "ostree:x", "Upper/case", "a__b--c.d/e:tag_1.2-x"]
for i, r in enumerate(refs):
    put("image_reference", str(i), r)

challenges = ['Bearer realm="https://auth.example.com/token",service="registry",scope="repository:a:pull"',
              'Basic realm="test"', 'bearer realm=http://127.0.0.1:5001/token,service=x',
              'Bearer realm="http://localhost:80@evil.example/"', 'Bearer realm="http://evil.example#@127.0.0.1/"',
              'Bearer realm="http://127.0.0.1.evil.example/t"', 'Bearer realm="unterminated', 'Bearer ,,,=,"']
for i, c in enumerate(challenges):
    put("www_authenticate", str(i), c)

configs = ["python: '3.12'\ninstaller: uv\nrequirements: [requirements.txt]\nenvironment:\n  A: b\nserver:\n  processes: 2\n",
           "image:\n  base: docker://127.0.0.1:5000/python:3.12\n", "python: [1,2]\n", "unknown: 1\n", "&a [*a]\n",
           "environment: {1: 2}\n"]
for i, c in enumerate(configs):
    put("app_config", "yaml-%d" % i, "\0" + c)
envs = ["# comment\nexport A=1\nB='two words'\nC=\"x\"\n\n", "1BAD=x\n", "NOEQUALS\n", "A=\"unterminated\n", "\u00e9=1\n"]
for i, e in enumerate(envs):
    put("app_config", "env-%d" % i, "\1" + e)

def tar_of(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for info, data in entries:
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()

def f(name, data=b"x", **kw):
    i = tarfile.TarInfo(name); i.size = len(data)
    for k, v in kw.items(): setattr(i, k, v)
    return (i, data)

def link(name, target, kind=tarfile.SYMTYPE):
    i = tarfile.TarInfo(name); i.type = kind; i.linkname = target
    return (i, None)

def d(name):
    i = tarfile.TarInfo(name); i.type = tarfile.DIRTYPE; i.mode = 0o755
    return (i, None)

def dev(name, kind):
    i = tarfile.TarInfo(name); i.type = kind; i.devmajor = 1; i.devminor = 3
    return (i, None)

put("layer_unpack", "plain", tar_of([d("usr"), d("usr/bin"), f("usr/bin/x", b"#!/bin/sh\n", mode=0o755),
                                     link("usr/bin/y", "x"), link("usr/bin/z", "usr/bin/x", tarfile.LNKTYPE)]))
put("layer_unpack", "dotdot", tar_of([f("../outside/a")]))
put("layer_unpack", "absolute", tar_of([f("/tmp/a")]))
put("layer_unpack", "symlink-out", tar_of([link("l", "../outside"), f("l/a")]))
put("layer_unpack", "symlink-abs", tar_of([link("l", "/"), f("l/a")]))
put("layer_unpack", "through-escape", tar_of([f("escape/a")]))
put("layer_unpack", "hardlink-out", tar_of([link("h", "../outside/x", tarfile.LNKTYPE)]))
put("layer_unpack", "devices", tar_of([dev("dev/null", tarfile.CHRTYPE), dev("dev/sda", tarfile.BLKTYPE),
                                       dev("fifo", tarfile.FIFOTYPE)]))
put("layer_unpack", "whiteouts", tar_of([d("a"), f("a/b"), f("a/.wh.b"), f("a/.wh..wh..opq"), f(".wh.escape")]))
put("layer_unpack", "longname", tar_of([f("d/" + "n" * 300), link("s" * 200, "t" * 300)]))
pax = io.BytesIO()
with tarfile.open(fileobj=pax, mode="w", format=tarfile.PAX_FORMAT) as t:
    i = tarfile.TarInfo("p" * 120); i.size = 1; i.pax_headers = {"path": "../outside/pax", "x" * 50: "y" * 500}
    t.addfile(i, io.BytesIO(b"z"))
put("layer_unpack", "pax", pax.getvalue())
