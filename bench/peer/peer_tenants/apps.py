from django.apps import AppConfig


class PeerTenantsConfig(AppConfig):
    name = "peer_tenants"
    default_auto_field = "django.db.models.BigAutoField"
