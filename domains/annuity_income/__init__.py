"""Sheet 收入明细 (fee income): the second domain (ANNUITY_INCOME.md)."""
