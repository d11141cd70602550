import time

from django.http import JsonResponse
from django.urls import path


def items(request):
    return JsonResponse({"items": [{"id": i, "name": "item %d" % i} for i in range(10)]})


def waits(request):
    """A view that waits 20 ms on I/O (time.sleep standing for a database query)."""
    time.sleep(0.02)
    return JsonResponse({"waited_ms": 20})


urlpatterns = [path("json", items), path("sleep", waits)]
