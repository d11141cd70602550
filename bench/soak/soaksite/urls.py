"""Views of the soak: /work (a JSON page, a few ms of CPU), /grow (keeps
1 MiB per call, so the memory limit recycles the worker; it tells the driver
how much in $SOAK_KEPT_DIR/PID), /upload (reads
the body). Each logs `soak-req ID PID` to stderr on arrival, so a failed
request can be matched to the worker that had it."""
import json
import os
import sys

from django.http import HttpResponse, JsonResponse
from django.urls import path

_kept = []


def _arrived(request):
    sys.stderr.write("soak-req %s %d\n" % (request.headers.get("X-Request-Id", "-"), os.getpid()))


def work(request):
    _arrived(request)
    items = [{"id": i, "name": "item %d" % i, "tags": ["a", "b", str(i)]} for i in range(400)]
    text = json.dumps(items)
    return JsonResponse({"n": len(items), "size": len(text), "pid": os.getpid()})


def grow(request):
    _arrived(request)
    _kept.append(bytearray(1024 * 1024))
    # The driver subtracts what is kept on purpose from this worker's RSS.
    kept_dir = os.environ.get("SOAK_KEPT_DIR")
    if kept_dir:
        with open(os.path.join(kept_dir, str(os.getpid())), "w") as f:
            f.write(str(len(_kept)))
    return HttpResponse("kept %d\n" % len(_kept))


def upload(request):
    _arrived(request)
    return HttpResponse("%d\n" % len(request.body))


urlpatterns = [path("work", work), path("grow", grow), path("upload", upload)]
