"""URLs of a tenant host (<slug>.peer.test): the course reads, at the hub's paths too."""
from django.urls import include, path
from rest_framework.routers import SimpleRouter

from peer_courses.views import CourseViewSet
from peer_site.urls_public import healthz

router = SimpleRouter(trailing_slash=False)
router.register("courses", CourseViewSet, basename="course")

urlpatterns = [
    path("healthz", healthz),
    # /courses and /courses/<uuid> as the bench calls them, and /v1/… as the hub spells them.
    path("", include(router.urls)),
    path("v1/", include(router.urls)),
]
