from django.apps import AppConfig

from facts.domain import domain_register


class AnnuityPerformanceConfig(AppConfig):
    name = "domains.annuity_performance"
    label = "annuity_performance"
    verbose_name = "Scale detail facts (规模明细)"

    def ready(self) -> None:
        from domains.annuity_performance.domain import DOMAIN  # needs the models: imported once they are loaded

        domain_register(DOMAIN)
