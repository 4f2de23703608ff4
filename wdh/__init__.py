"""wdh — reference backfill for the enterprise-annuity warehouse."""
