from django.apps import AppConfig


class PeerCoursesConfig(AppConfig):
    name = "peer_courses"
    default_auto_field = "django.db.models.BigAutoField"
