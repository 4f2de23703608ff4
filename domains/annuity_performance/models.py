"""The fact table ``规模明细`` (unmanaged, production layout, ANNUITY_PERFORMANCE.md §4)."""

from __future__ import annotations

from django.db import models

from wdh.tables import facts_table


class AnnuityPerformanceColumns(models.Model):
    """Columns of 规模明细: one cleansed row, plan × portfolio × business line, one month."""

    id = models.BigAutoField(primary_key=True)  # identity column in the warehouse
    月度 = models.DateField()
    业务类型 = models.CharField(max_length=255, null=True, blank=True)
    计划类型 = models.CharField(max_length=255, null=True, blank=True)
    计划代码 = models.CharField(max_length=255)
    计划名称 = models.CharField(max_length=255, null=True, blank=True)
    组合类型 = models.CharField(max_length=255, null=True, blank=True)
    组合代码 = models.CharField(max_length=255, null=True, blank=True)
    组合名称 = models.CharField(max_length=255, null=True, blank=True)
    客户名称 = models.CharField(max_length=255, null=True, blank=True)
    期初资产规模 = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    期末资产规模 = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    供款 = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    流失_含待遇支付 = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    流失 = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    待遇支付 = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    投资收益 = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    当期收益率 = models.DecimalField(max_digits=10, decimal_places=6, null=True, blank=True)
    机构代码 = models.CharField(max_length=255, null=True, blank=True)
    机构名称 = models.CharField(max_length=255, null=True, blank=True)
    产品线代码 = models.CharField(max_length=255, null=True, blank=True)
    年金账户号 = models.CharField(max_length=50, null=True, blank=True)
    年金账户名 = models.CharField(max_length=255, null=True, blank=True)
    company_id = models.CharField(max_length=50, null=True, blank=True)

    class Meta:
        abstract = True


class AnnuityPerformance(AnnuityPerformanceColumns):
    class Meta:
        managed = False  # a warehouse table: created by warehouse_ddl, never by migrations
        db_table = facts_table("annuity_performance", schema="business", table="规模明细")
        verbose_name = "scale detail fact (规模明细)"
        verbose_name_plural = "scale detail facts (规模明细)"

    def __str__(self) -> str:
        return f"{self.月度:%Y-%m} {self.计划代码} {self.组合代码 or ''}".strip()


FACT_COLUMNS: tuple[str, ...] = tuple(
    field.column for field in AnnuityPerformance._meta.concrete_fields if field.name != "id"
)
