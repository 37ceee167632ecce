"""URLs of the public schema (Host localhost / 127.0.0.1): the health check only."""
from django.http import HttpResponse
from django.urls import path


def healthz(request):
    return HttpResponse(b'{"status":"ok"}', content_type="application/json")


urlpatterns = [
    path("healthz", healthz),
]
