from django.http import JsonResponse
from django.urls import path


def items(request):
    return JsonResponse({"items": [{"id": i, "name": "item %d" % i} for i in range(10)]})


urlpatterns = [path("json", items)]
