from rest_framework import viewsets

from peer_courses.models import Course
from peer_courses.pagination import KeysetPagination
from peer_courses.serializers import CourseSerializer


class CourseViewSet(viewsets.ReadOnlyModelViewSet):
    """GET /courses (keyset-paginated list) and GET /courses/<uuid>, in the tenant's schema
    that TenantMainMiddleware selected from the Host header."""

    queryset = Course.objects.all()
    serializer_class = CourseSerializer
    pagination_class = KeysetPagination
    lookup_value_regex = "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
