"""The fact table ``收入明细`` (unmanaged, production layout, ANNUITY_INCOME.md §3)."""

from __future__ import annotations

from django.db import models

from wdh.tables import facts_table

FEE_COLUMNS = ("固费", "浮费", "回补", "税")


def _fee() -> models.DecimalField:  # type: ignore[type-arg]
    return models.DecimalField(max_digits=18, decimal_places=4, default=0)


class AnnuityIncomeColumns(models.Model):
    """Columns of 收入明细: one cleansed row, plan × portfolio × business line, one month's fees."""

    id = models.BigAutoField(primary_key=True)  # identity column in the warehouse
    月度 = models.DateField()
    计划代码 = models.CharField(max_length=255)
    company_id = models.CharField(max_length=50, null=True, blank=True)
    客户名称 = models.CharField(max_length=255, null=True, blank=True)
    年金账户名 = models.CharField(max_length=255, null=True, blank=True)
    业务类型 = models.CharField(max_length=255, null=True, blank=True)
    计划类型 = models.CharField(max_length=255, null=True, blank=True)
    组合代码 = models.CharField(max_length=255, null=True, blank=True)
    产品线代码 = models.CharField(max_length=255, null=True, blank=True)
    机构代码 = models.CharField(max_length=255, null=True, blank=True)
    计划名称 = models.CharField(max_length=255, null=True, blank=True)
    组合类型 = models.CharField(max_length=255, null=True, blank=True)
    组合名称 = models.CharField(max_length=255, null=True, blank=True)
    机构名称 = models.CharField(max_length=255, null=True, blank=True)
    固费 = _fee()
    浮费 = _fee()
    回补 = _fee()
    税 = _fee()

    class Meta:
        abstract = True


class AnnuityIncome(AnnuityIncomeColumns):
    class Meta:
        managed = False  # a warehouse table: created by warehouse_ddl, never by migrations
        db_table = facts_table("annuity_income", schema="business", table="收入明细")
        verbose_name = "fee income fact (收入明细)"
        verbose_name_plural = "fee income facts (收入明细)"

    def __str__(self) -> str:
        return f"{self.月度:%Y-%m} {self.计划代码} {self.组合代码 or ''}".strip()
