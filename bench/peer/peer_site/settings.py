"""Settings of the benchmark peer: DRF + django-tenants, configured as for production.

Everything comes from the environment that serve.sh sets:
  PEER_DATABASE_URL   postgres://user[:password]@host[:port]/dbname[?sslmode=...]  (required)
  PEER_CONN_MAX_AGE   seconds a worker keeps its database connection; "none" = forever
                      (default "none": persistent connections, see README.md, "Fairness")
  PEER_DOMAIN_SUFFIX  tenants answer on <slug>.<suffix> (default "peer.test")
"""
import os
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured


def _database_from_url(url):
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ImproperlyConfigured(f"PEER_DATABASE_URL must be postgres://…, got {parts.scheme!r}")
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise ImproperlyConfigured("PEER_DATABASE_URL names no database")
    max_age = os.environ.get("PEER_CONN_MAX_AGE", "none").strip().lower()
    return {
        # django-tenants' wrapper around django.db.backends.postgresql: it adds the
        # per-request `SET search_path` that selects the tenant's schema.
        "ENGINE": "django_tenants.postgresql_backend",
        "NAME": name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "OPTIONS": dict(parse_qsl(parts.query)),
        "CONN_MAX_AGE": None if max_age in ("none", "") else int(max_age),
        "CONN_HEALTH_CHECKS": False,
        "ATOMIC_REQUESTS": False,
    }


_url = os.environ.get("PEER_DATABASE_URL") or os.environ.get("DATABASE_URL")
if not _url:
    raise ImproperlyConfigured("set PEER_DATABASE_URL (serve.sh does)")

SECRET_KEY = os.environ.get("PEER_SECRET_KEY", "bench-peer-no-sessions-or-signing-use-this")
DEBUG = False
ALLOWED_HOSTS = [".peer.test", "localhost", "127.0.0.1", "[::1]"]
PEER_DOMAIN_SUFFIX = os.environ.get("PEER_DOMAIN_SUFFIX", "peer.test")
if PEER_DOMAIN_SUFFIX != "peer.test":
    ALLOWED_HOSTS.append("." + PEER_DOMAIN_SUFFIX)

# django-tenants: shared apps live in the public schema (the tenant registry), tenant apps in
# every tenant schema. The tenant schemas and their `courses` tables are the hub's own: they
# are never created or migrated from here (Client.auto_create_schema = False, Course is
# managed = False).
SHARED_APPS = [
    "django_tenants",
    "django.contrib.contenttypes",  # imported by django-tenants' database backend
    "peer_tenants",
    "rest_framework",
]
TENANT_APPS = [
    "peer_courses",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "peer_tenants.Client"
TENANT_DOMAIN_MODEL = "peer_tenants.Domain"
# django-tenants' documented switch for load: issue `SET search_path` once per tenant switch
# rather than on every new cursor (it still runs twice per request: public, then tenant).
TENANT_LIMIT_SET_CALLS = True
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)
DATABASES = {"default": _database_from_url(_url)}

# The tenant middleware must come first; nothing else is needed by a JSON read API with no
# sessions, no CSRF (no unsafe methods) and no auth (see README.md).
MIDDLEWARE = [
    "django_tenants.middleware.main.TenantMainMiddleware",
]
ROOT_URLCONF = "peer_site.urls"  # tenant hosts
PUBLIC_SCHEMA_URLCONF = "peer_site.urls_public"  # localhost / 127.0.0.1: /healthz only
WSGI_APPLICATION = "peer_site.wsgi.application"
APPEND_SLASH = False
TEMPLATES = []

USE_TZ = True
TIME_ZONE = "UTC"
USE_I18N = False
LANGUAGE_CODE = "en-us"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
    "UNAUTHENTICATED_TOKEN": None,
}

# Errors (5xx) go to stderr; 4xx and access lines are not logged (the bench is the load).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django": {"handlers": ["stderr"], "level": "ERROR", "propagate": False},
    },
}
