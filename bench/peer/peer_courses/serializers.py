import json

from rest_framework import serializers

from peer_courses.models import Course


class JsonTextList(serializers.Field):
    """A JSON array kept in a text column, rendered as the array."""

    def to_representation(self, value):
        return json.loads(value) if value else []


class CourseSerializer(serializers.ModelSerializer):
    tags = JsonTextList(read_only=True)

    class Meta:
        model = Course
        # The hub's CourseView, field for field and in its order.
        fields = [
            "id",
            "code",
            "title",
            "description",
            "status",
            "tags",
            "minimum_age",
            "revision",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
