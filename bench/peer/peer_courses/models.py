"""The hub's `courses` table in each tenant schema, read as is (never migrated from here)."""
from django.db import models


class Course(models.Model):
    id = models.UUIDField(primary_key=True)
    code = models.TextField(unique=True)
    title = models.TextField()
    description = models.TextField()
    status = models.TextField()
    tags = models.TextField()  # a JSON array, stored as text by the hub
    minimum_age = models.IntegerField(null=True)
    revision = models.IntegerField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "courses"
