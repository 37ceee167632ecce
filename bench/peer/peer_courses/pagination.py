"""Keyset pagination with the hub's contract: ?limit=1..200 (default 50), ?cursor=<opaque>,
a page of rows ordered by id and `next_cursor` = base64url(last id's 16 bytes, no padding)
when another page follows, else null. Fetches limit + 1 rows to know, as the hub does."""
import base64
import binascii
import uuid

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def encode_cursor(value):
    return base64.urlsafe_b64encode(value.bytes).rstrip(b"=").decode("ascii")


def decode_cursor(text):
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return uuid.UUID(bytes=raw)
    except (binascii.Error, ValueError):
        raise ValidationError({"cursor": "cursor is not one this API issued"})


class KeysetPagination(BasePagination):
    def paginate_queryset(self, queryset, request, view=None):
        raw_limit = request.query_params.get("limit")
        try:
            limit = DEFAULT_LIMIT if raw_limit in (None, "") else int(raw_limit)
        except ValueError:
            limit = 0
        if not 1 <= limit <= MAX_LIMIT:
            raise ValidationError({"limit": f"limit must be between 1 and {MAX_LIMIT}"})
        cursor = request.query_params.get("cursor")
        if cursor:
            queryset = queryset.filter(id__gt=decode_cursor(cursor))
        rows = list(queryset.order_by("id")[: limit + 1])
        self.next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
        return rows[:limit]

    def get_paginated_response(self, data):
        return Response({"items": data, "next_cursor": self.next_cursor})
