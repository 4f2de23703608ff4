"""Sheet types as plug-ins: what the generic machinery asks of a domain, and the registry.

A domain (a sheet type of the monthly workbook, e.g. ``annuity_performance`` for 规模明细) is one
package under ``domains/``: a Django app listed in ``settings.INSTALLED_APPS`` whose
``AppConfig.ready()`` calls :func:`domain_register` with its :class:`Domain`. The configuration
block ``domains.<name>`` configures the registered domain of that name. Discovery, the reader,
batch reading, fact loading, derivation, backfill and audit reach a domain only through this
object: none of them names one. Pure: no file and no database is touched here.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import models

from facts.cells import column_widths_register
from facts.cleansing import SheetRules
from wdh.config import DomainConfig, FactsTable, RefTarget
from wdh.errors import ConfigError

if TYPE_CHECKING:
    from facts.sample_spec import SampleSpec
    from facts.xlsx import Sheet


@dataclass(frozen=True)
class Domain:
    """One sheet type: its sheet's rules, its fact table's layout, its defaults, its sample."""

    name: str  # the configuration's domains.<name> and the command's --domain
    sheet: SheetRules  # header renames, required columns, the row cleaner
    columns: type[models.Model]  # abstract: the fact table's columns (one source of the DDL)
    model: type[models.Model]  # unmanaged, bound to the configured table at start-up
    indexes: tuple[tuple[str, ...], ...]  # the fact table's indexes, each a column tuple
    row_label: tuple[str, ...]  # how a fact row is named in a preflight message
    default_refs: Mapping[str, RefTarget]  # the derivation rules when the configuration has no refs
    sample_sheet: Callable[[SampleSpec], Sheet]  # this domain's sheet of the sample workbook

    @property
    def fact_columns(self) -> tuple[str, ...]:
        """The fact table's columns the load writes, in table order (all but the identity id)."""
        return tuple(field.column for field in self.model._meta.concrete_fields if not field.primary_key)

    def model_for(self, table: FactsTable) -> type[models.Model]:
        """The fact model bound to ``table``: the static model when it is the configured one,
        otherwise an unmanaged subclass of the same columns, created once."""
        if self.model._meta.db_table == table.qualified:
            return self.model
        label = self.model._meta.app_label
        name = f"{self.model.__name__}_{hashlib.sha256(table.qualified.encode()).hexdigest()[:12]}"
        try:
            return apps.get_model(label, name)
        except LookupError:
            meta = type("Meta", (), {"managed": False, "db_table": table.qualified, "app_label": label})
            return type(name, (self.columns,), {"__module__": __name__, "Meta": meta})


_REGISTERED: dict[str, Domain] = {}


def domain_register(domain: Domain) -> None:
    """Make ``domain`` known (called once by its package's AppConfig.ready). Its fact columns'
    widths join the ones the cell rules check (:func:`facts.cells.fit`); two domains that
    disagree on a column's width are a programming error."""
    if domain.name in _REGISTERED and _REGISTERED[domain.name] is not domain:
        raise ImproperlyConfigured(f"two sheet types are named {domain.name!r}")
    widths = {field.column: field.max_length for field in domain.columns._meta.fields if field.max_length}
    try:
        column_widths_register(widths)
    except ValueError as exc:
        raise ImproperlyConfigured(f"sheet type {domain.name!r}: {exc}") from None
    _REGISTERED[domain.name] = domain


def domains_registered() -> Mapping[str, Domain]:
    """Every installed sheet type, in ``INSTALLED_APPS`` order."""
    return MappingProxyType(_REGISTERED)


def domain_get(name: str) -> Domain:
    """The installed sheet type ``name``; ConfigError naming ``domains.<name>`` when none is."""
    try:
        return _REGISTERED[name]
    except KeyError:
        known = ", ".join(_REGISTERED) or "none"
        raise ConfigError(
            f"domains.{name}",
            f"no sheet type {name!r} is installed (installed: {known}); a domain's name must be one of "
            "them (settings.INSTALLED_APPS lists the domain packages)",
        ) from None


def domain_configured(domain: DomainConfig) -> DomainConfig:
    """``domain`` with its sheet type's default reference rules when its configuration block has
    no ``refs`` (the configuration's own built-in defaults are 规模明细's, weighed by 期末资产规模);
    as it is when it has, or when no sheet type of its name is installed (the checks say so)."""
    sheet_type = _REGISTERED.get(domain.name)
    if not domain.refs_defaulted or sheet_type is None:
        return domain
    return dataclasses.replace(domain, refs=sheet_type.default_refs)
