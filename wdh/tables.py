"""Table names the models are bound to when Django loads them.

Models are created at import time, before any command runs, so a broken configuration must not
break the import: the models then fall back to the built-in defaults and the command that loads
the configuration reports the error with its key path (as does ``manage.py check``).
"""

from __future__ import annotations

from wdh.config import DEFAULT_REFS, DomainConfig, RefTarget, get_config
from wdh.errors import ConfigError
from wdh.identifiers import quote_qualified

DEFAULT_DOMAIN = "annuity_performance"
DEFAULT_FACTS_TABLE = quote_qualified("business", "规模明细")


def _domain() -> DomainConfig | None:
    try:
        return get_config().domain(DEFAULT_DOMAIN)
    except ConfigError:
        return None


def reference_table(target: str) -> str:
    """Quoted, qualified name of the configured ``plans`` / ``portfolios`` table."""
    domain = _domain()
    refs = domain.refs if domain else DEFAULT_REFS
    return (refs.get(target) or DEFAULT_REFS[target]).qualified_name


def declared_targets() -> tuple[RefTarget, ...]:
    """Every domain's targets that have no explicit model (all but the seed tables' ``plans`` /
    ``portfolios``), the first declaration of each name, in dependency order; none when the
    configuration is broken."""
    try:
        domains = get_config().domains.values()
    except ConfigError:
        return ()
    targets: dict[str, RefTarget] = {}
    for domain in domains:
        for name, target in domain.refs.items():
            if name not in DEFAULT_REFS:
                targets.setdefault(name, target)
    return tuple(targets.values())


def facts_table() -> str:
    domain = _domain()
    return domain.facts.qualified if domain else DEFAULT_FACTS_TABLE
