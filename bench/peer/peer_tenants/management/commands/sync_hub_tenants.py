"""Mirror hub_control.tenants into the django-tenants registry, without touching any schema.

Every hub tenant row becomes a Client (schema_name = the hub's schema) with one Domain,
`<slug>.<PEER_DOMAIN_SUFFIX>`; clients no longer in the hub are removed from the registry
(their schemas are left alone). Idempotent, and set-based so 10,000 tenants take seconds.
"""
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from peer_tenants.models import Client, Domain

PUBLIC_HOSTS = ("localhost", "127.0.0.1", "::1")


class Command(BaseCommand):
    help = "Sync the django-tenants Client/Domain registry from hub_control.tenants."

    def add_arguments(self, parser):
        parser.add_argument(
            "--migrate-shared",
            action="store_true",
            help="first run `migrate_schemas --shared` (public schema only), in this process",
        )

    def handle(self, *args, **options):
        started = time.monotonic()
        if options["migrate_shared"]:
            # django-tenants' own tables (registry, django_migrations, content types) in
            # public only: --shared never touches a tenant schema.
            call_command("migrate_schemas", shared=True, verbosity=0, interactive=False)
        suffix = settings.PEER_DOMAIN_SUFFIX
        connection.set_schema_to_public()
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass('hub_control.tenants')")
            if cursor.fetchone()[0] is None:
                raise CommandError("hub_control.tenants does not exist: is this the hub's database?")
            cursor.execute(
                "SELECT id, slug, name, schema_name FROM hub_control.tenants ORDER BY schema_name"
            )
            rows = cursor.fetchall()

        with transaction.atomic():
            # The public pseudo-tenant: requests without a tenant host land on
            # PUBLIC_SCHEMA_URLCONF (the health check), as django-tenants documents.
            public, _ = Client.objects.get_or_create(
                schema_name="public", defaults={"slug": "_public", "name": "public"}
            )
            Domain.objects.bulk_create(
                [Domain(domain=h, tenant=public, is_primary=(h == "localhost")) for h in PUBLIC_HOSTS],
                update_conflicts=True,
                unique_fields=["domain"],
                update_fields=["tenant", "is_primary"],
            )

            # A registry client the hub no longer has, or whose slug now belongs to another
            # schema, is removed first (with its domains), so the upsert below never meets a
            # stale unique slug or domain. Its schema is left alone.
            hub_pairs = {(schema, slug) for _, slug, _, schema in rows}
            stale = [
                pk
                for pk, schema, slug in Client.objects.exclude(schema_name="public").values_list(
                    "pk", "schema_name", "slug"
                )
                if (schema, slug) not in hub_pairs
            ]
            if stale:
                Domain.objects.filter(tenant_id__in=stale).delete()
                Client.objects.filter(pk__in=stale).delete()

            Client.objects.bulk_create(
                [Client(schema_name=s, hub_id=i, slug=sl, name=n) for i, sl, n, s in rows],
                batch_size=2000,
                update_conflicts=True,
                unique_fields=["schema_name"],
                update_fields=["hub_id", "slug", "name"],
            )
            ids = dict(Client.objects.exclude(schema_name="public").values_list("schema_name", "pk"))
            wanted = {f"{slug}.{suffix}": ids[schema] for _, slug, _, schema in rows}
            Domain.objects.filter(tenant_id__in=ids.values()).exclude(domain__in=wanted).delete()
            Domain.objects.bulk_create(
                [Domain(domain=d, tenant_id=t, is_primary=True) for d, t in wanted.items()],
                batch_size=2000,
                update_conflicts=True,
                unique_fields=["domain"],
                update_fields=["tenant", "is_primary"],
            )

        self.stdout.write(
            f"peer: {len(rows)} hub tenants in the django-tenants registry "
            f"(*.{suffix}) in {time.monotonic() - started:.2f}s"
        )
