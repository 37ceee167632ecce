"""Runs python-scim's scim2-tester compliance checks against a SCIM service.

Usage: SCIM_URL=http://host/v1/scim/v2 SCIM_TOKEN=<key> .venv/bin/python scripts/scim-conformance.py
Prints one JSON object per check (status, title, reason, resource type, tags) and nothing
else on stdout; tests/api/scim_conformance.rs reads them and decides which apply. Every check
runs: scim2-tester's own exclude_tags also skips its "*"-tagged discovery checks.
"""

import json
import os
import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import check_server


def main() -> int:
    base_url = os.environ["SCIM_URL"]
    token = os.environ["SCIM_TOKEN"]
    http = Client(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30.0,
    )
    client = SyncSCIMClient(http)
    results = check_server(client)
    for result in results:
        print(
            json.dumps(
                {
                    "status": result.status.name,
                    "title": result.title,
                    "reason": result.reason,
                    "resource_type": result.resource_type,
                    "tags": sorted(result.tags),
                },
                default=str,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
