"""Drives a running gateway with the Python SDK generated from openapi/openapi.json.

Run by scripts/sdk-smoke.sh, which generates the `hub_client` package and puts it on
PYTHONPATH. Uses nothing but that package (its clients, api modules and models): if the
spec were wrong or incomplete, the generated code would send the wrong request, fail to
parse the answer or lack the operation, and this script fails with the step that broke.

Environment: HUB_URL (the gateway's origin), HUB_OPERATOR_TOKEN (an operator key).
"""

from __future__ import annotations

import os
import sys
import traceback
import uuid
from typing import Any, NoReturn

import httpx  # only for the client's own timeout setting
from hub_client import AuthenticatedClient
from hub_client.api.courses import create_course, get_course, list_courses, update_course
from hub_client.api.tenants import create_tenant
from hub_client.models import (
    CourseCreate,
    CoursePage,
    CourseStatusView,
    CourseUpdate,
    CourseView,
    Problem,
    ProvisionedTenant,
    TenantCreate,
)
from hub_client.types import UNSET, Response


class Mismatch(Exception):
    """The API, seen through the SDK, did not do what the spec promises."""


def fail(message: str) -> NoReturn:
    raise Mismatch(message)


def check(condition: bool, message: str) -> None:
    if not condition:
        fail(message)


def expect(response: Response[Any], status: int, model: type, what: str) -> Any:
    """The response has this status and the SDK parsed its body into this model."""
    if response.status_code != status or not isinstance(response.parsed, model):
        fail(
            f"{what}: expected {status} parsed as {model.__name__}, got "
            f"{int(response.status_code)} parsed as {type(response.parsed).__name__}; "
            f"body: {response.content[:2000]!r}"
        )
    return response.parsed


def header(response: Response[Any], name: str, what: str) -> str:
    value = response.headers.get(name)
    if not value:
        fail(f"{what}: no {name} header; headers: {dict(response.headers)}")
    return value


def client(base_url: str, token: str) -> AuthenticatedClient:
    return AuthenticatedClient(
        base_url=base_url,
        token=token,
        # An answer the spec does not document raises instead of parsing as None.
        raise_on_unexpected_status=True,
        # Provisioning creates a schema and runs migrations; the machine may be busy.
        timeout=httpx.Timeout(60.0),
        # Only the local server: no proxies from the environment.
        httpx_args={"trust_env": False},
    )


def run(base_url: str, operator_token: str) -> None:
    suffix = uuid.uuid4().hex[:12]

    # Provision an institution as the platform operator.
    with client(base_url, operator_token) as operator:
        slug = f"sdk-{suffix}"
        provisioned = expect(
            create_tenant.sync_detailed(
                client=operator, body=TenantCreate(slug=slug, name="SDK smoke institute")
            ),
            201,
            ProvisionedTenant,
            "createTenant",
        )
    check(provisioned.tenant.slug == slug, f"createTenant: slug {provisioned.tenant.slug!r}")
    admin_token = provisioned.admin_api_key.token
    check(bool(admin_token), "createTenant: the admin API key has no token")
    print(f"provisioned institution {slug} ({provisioned.tenant.id})")

    with client(base_url, admin_token) as admin:
        # Create a course; the Idempotency-Key makes a retry return the same course.
        code = f"SDK-{suffix[:8].upper()}"
        new = CourseCreate(
            code=code,
            title="Generated clients 101",
            description="Created through the generated Python SDK.",
            tags=["sdk", "smoke"],
            minimum_age=16,
        )
        key = f"sdk-smoke-{suffix}"
        created_response = create_course.sync_detailed(client=admin, body=new, idempotency_key=key)
        created = expect(created_response, 201, CourseView, "createCourse")
        check(created.code == code, f"createCourse: code {created.code!r}, sent {code!r}")
        check(
            created.status == CourseStatusView.DRAFT,
            f"createCourse: status {created.status!r}, the documented default is draft",
        )
        check(created.minimum_age == 16, f"createCourse: minimum_age {created.minimum_age!r}")
        check(created.tags == ["sdk", "smoke"], f"createCourse: tags {created.tags!r}")
        header(created_response, "ETag", "createCourse")
        retried = expect(
            create_course.sync_detailed(client=admin, body=new, idempotency_key=key),
            200,
            CourseView,
            "createCourse retried with the same Idempotency-Key",
        )
        check(retried.id == created.id, "createCourse retried: a second course was created")
        print(f"created course {code} ({created.id}), retry returned the same course")

        # List the catalog page by page until the course turns up.
        found = None
        cursor: str | None = None
        pages = 0
        while found is None and pages < 50:
            page = expect(
                list_courses.sync_detailed(client=admin, limit=1, cursor=cursor or UNSET),
                200,
                CoursePage,
                "listCourses",
            )
            pages += 1
            found = next((c for c in page.items if c.id == created.id), None)
            cursor = page.next_cursor if isinstance(page.next_cursor, str) else None
            if cursor is None:
                break
        check(found is not None, f"listCourses: course {created.id} not on any of {pages} page(s)")
        filtered = expect(
            list_courses.sync_detailed(client=admin, code=code, status=CourseStatusView.DRAFT),
            200,
            CoursePage,
            "listCourses by code and status",
        )
        check(
            [c.id for c in filtered.items] == [created.id],
            f"listCourses by code: {[str(c.id) for c in filtered.items]}",
        )
        print(f"listed: found after {pages} page(s) and by code")

        # Read it by id; the ETag is what an update must send back.
        got_response = get_course.sync_detailed(created.id, client=admin)
        got = expect(got_response, 200, CourseView, "getCourse")
        check(got.id == created.id and got.title == new.title, f"getCourse: {got.to_dict()}")
        etag = header(got_response, "ETag", "getCourse")

        # Update with If-Match: publish, retitle, and remove the age limit with a null.
        change = CourseUpdate(
            title="Generated clients 102",
            status=CourseStatusView.PUBLISHED,
            minimum_age=None,
        )
        updated_response = update_course.sync_detailed(
            created.id, client=admin, body=change, if_match=etag
        )
        updated = expect(updated_response, 200, CourseView, "updateCourse")
        check(updated.title == "Generated clients 102", f"updateCourse: title {updated.title!r}")
        check(
            updated.status == CourseStatusView.PUBLISHED, f"updateCourse: status {updated.status!r}"
        )
        check(updated.minimum_age is None, f"updateCourse: minimum_age {updated.minimum_age!r}")
        check(updated.code == code, f"updateCourse: code changed to {updated.code!r}")
        check(
            updated.revision == got.revision + 1,
            f"updateCourse: revision {updated.revision}, was {got.revision}",
        )
        new_etag = header(updated_response, "ETag", "updateCourse")
        check(new_etag != etag, f"updateCourse: the ETag stayed {etag}")
        print(f"updated with If-Match {etag}: now {new_etag}")

        # The old ETag is stale now: a parsed 412 problem, not a lost update.
        stale = expect(
            update_course.sync_detailed(
                created.id, client=admin, body=CourseUpdate(title="lost update"), if_match=etag
            ),
            412,
            Problem,
            "updateCourse with a stale If-Match",
        )
        check(stale.status == 412, f"stale If-Match: problem status {stale.status}")
        check(stale.code == "revision_mismatch", f"stale If-Match: problem code {stale.code!r}")

        # A course that does not exist: a parsed RFC 9457 problem.
        missing_response = get_course.sync_detailed(uuid.uuid4(), client=admin)
        missing = expect(missing_response, 404, Problem, "getCourse of a random id")
        check(missing.status == 404, f"404: problem status {missing.status}")
        check(missing.code == "course_not_found", f"404: problem code {missing.code!r}")
        content_type = header(missing_response, "Content-Type", "getCourse of a random id")
        check(
            content_type.split(";")[0].strip() == "application/problem+json",
            f"404: content type {content_type!r}",
        )
        print(f"404 parsed as a problem: {missing.code} ({missing.title})")


def main() -> int:
    base_url = os.environ.get("HUB_URL", "").rstrip("/")
    operator_token = os.environ.get("HUB_OPERATOR_TOKEN", "")
    if not base_url or not operator_token:
        print("sdk-smoke: HUB_URL and HUB_OPERATOR_TOKEN must be set", file=sys.stderr)
        return 2
    try:
        run(base_url, operator_token)
    except Mismatch as mismatch:
        print(f"sdk-smoke: FAILED: {mismatch}", file=sys.stderr)
        return 1
    except Exception:  # the generated client itself broke: show where
        traceback.print_exc()
        print("sdk-smoke: FAILED: the generated client raised (traceback above)", file=sys.stderr)
        return 1
    print("sdk-smoke: the generated Python client drove the API as documented")
    return 0


if __name__ == "__main__":
    sys.exit(main())
