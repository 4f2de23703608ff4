"""Sheet 规模明细 (scale detail): the first domain (ANNUITY_PERFORMANCE.md)."""
