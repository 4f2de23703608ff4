"""Table names the models are bound to when Django loads them.

Models are created at import time, before any command runs, so a broken configuration must not
break the import: the models then fall back to the built-in defaults and the command that loads
the configuration reports the error with its key path (as does ``manage.py check``).
"""

from __future__ import annotations

from wdh.config import DEFAULT_REFS, DomainConfig, RefTarget, get_config
from wdh.errors import ConfigError
from wdh.identifiers import quote_qualified

DEFAULT_DOMAIN = "annuity_performance"  # the commands' --domain default


def _domain(name: str = DEFAULT_DOMAIN) -> DomainConfig | None:
    try:
        return get_config().domain(name)
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


def facts_table(domain: str, *, schema: str, table: str) -> str:
    """Quoted, qualified name of ``domain``'s configured fact table; ``schema``.``table`` when
    the configuration is broken or has no such domain."""
    configured = _domain(domain)
    return configured.facts.qualified if configured else quote_qualified(schema, table)
