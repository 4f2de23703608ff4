"""System checks: the configuration must load and agree with the reference models.

The check carries its own tag, :data:`CONFIGURATION_TAG`, so that the commands that report a
broken configuration themselves (the job commands) or never read it (``show_run``,
``abandon_runs``) can run every other check without it (:mod:`jobs.startup`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.core import checks
from django.core.checks.registry import registry
from django.db import models

from facts.domain import domain_configured, domain_get
from refs.models import reference_model
from wdh.config import Aggregation, DomainConfig, RefTarget, get_config
from wdh.errors import ConfigError

CONFIGURATION_TAG = "wdh_configuration"


def refs_problems(domain: DomainConfig) -> list[tuple[str, str]]:
    """Each way ``domain.refs`` (or ``facts.pk``) disagrees with the models, as (key path, problem);
    a domain no installed sheet type has is the one problem then."""
    try:
        fact_columns = domain_get(domain.name).fact_columns
    except ConfigError as exc:
        return [(exc.path, exc.problem)]
    problems: list[tuple[str, str]] = [
        (f"domains.{domain.name}.facts.pk[{index}]", f"{column!r} is not a column of the fact table")
        for index, column in enumerate(domain.facts.pk)
        if column not in fact_columns
    ]
    for target in domain.refs.values():
        fields = {field.column: field for field in reference_model(target)._meta.concrete_fields}
        problems += _target_problems(target, f"domains.{domain.name}.refs.{target.name}", fields, fact_columns)
    return problems


def _target_problems(
    target: RefTarget, path: str, fields: Mapping[str, models.Field[Any, Any]], fact_columns: Sequence[str]
) -> list[tuple[str, str]]:
    """How ``target`` disagrees with its model's ``fields`` and with the fact columns."""
    listed = [
        *((f"{path}.key[{index}]", column) for index, column in enumerate(target.key)),
        *((f"{path}.updatable[{index}]", column) for index, column in enumerate(target.updatable)),
    ]
    problems = [
        (where, f"{column!r} is not a column of {target.table}") for where, column in listed if column not in fields
    ]
    problems += [
        (f"{path}.other_columns.{column}", f"not a column of {target.table}'s model")
        for column, _ in target.other_columns
        if column not in fields
    ]
    for rule in target.columns:
        where = f"{path}.columns.{rule.column}"
        if rule.column not in fields:
            problems.append((where, f"not a column of {target.table}"))
        elif rule.agg is Aggregation.COUNT_DISTINCT and not isinstance(fields[rule.column], models.IntegerField):
            problems.append(
                (where, f"agg count_distinct needs an integer column, and {rule.column} of {target.table} is not one")
            )
        problems += [
            (where, f"{source!r} is not a fact column") for source in rule.sources if source not in fact_columns
        ]
    return problems


def checks_except_configuration() -> list[str]:
    """Tags of every registered system check but the configuration's."""
    return sorted(tag for tag in registry.tags_available() if tag != CONFIGURATION_TAG)


@checks.register(CONFIGURATION_TAG)
def check_refs_configuration(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    try:
        config = get_config()
    except ConfigError as exc:
        return [checks.Error(str(exc), id="wdh.E001")]
    return [
        checks.Error(f"{path}: {problem}", id="wdh.E002")
        for domain in config.domains.values()
        for path, problem in refs_problems(domain_configured(domain))
    ]
