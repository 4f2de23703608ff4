from django.apps import AppConfig


class RefsConfig(AppConfig):
    name = "refs"
    verbose_name = "Reference tables and backfill audit"

    def ready(self) -> None:
        from refs import checks  # noqa: F401  (registers the system checks; imports refs.models: only once models load)
