"""The django-tenants registry (public schema), mirrored from the hub's hub_control.tenants."""
from django.db import models
from django_tenants.models import DomainMixin, TenantMixin


class Client(TenantMixin):
    """One hub tenant; schema_name is the hub's own `t_<hex>` schema."""

    hub_id = models.UUIDField(null=True, unique=True)  # null for the public pseudo-tenant
    slug = models.CharField(max_length=100, unique=True)
    name = models.CharField(max_length=200)

    # The hub created and migrated these schemas; the peer only reads them.
    auto_create_schema = False
    auto_drop_schema = False


class Domain(DomainMixin):
    """Host name → tenant: `<slug>.peer.test`, and localhost / 127.0.0.1 → public."""
