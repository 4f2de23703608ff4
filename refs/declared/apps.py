from django.apps import AppConfig


class DeclaredConfig(AppConfig):
    name = "refs.declared"
    label = "declared"
    verbose_name = "Reference tables (declared in data_sources.yml)"
    default_auto_field = "django.db.models.BigAutoField"
