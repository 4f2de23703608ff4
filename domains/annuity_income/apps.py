from django.apps import AppConfig

from facts.domain import domain_register


class AnnuityIncomeConfig(AppConfig):
    name = "domains.annuity_income"
    label = "annuity_income"
    verbose_name = "Fee income facts (收入明细)"

    def ready(self) -> None:
        from domains.annuity_income.domain import DOMAIN  # needs the models: imported once they are loaded

        domain_register(DOMAIN)
