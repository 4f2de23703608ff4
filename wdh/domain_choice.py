"""The ``--domain`` value: one configured domain, several (the flag repeated), or ``all``.

A run of several domains processes each one's sheet of the same workbooks in one run (README
"The whole workbook in one run"). Whatever the order of the flags, the domains are processed in
the order the configuration declares them: that order is the merge precedence of their
reference candidates (refs.candidate_merge). The request keeps the value as given (``all`` or
the names joined by commas), and so does the audit record; :func:`domains_chosen` resolves it
against the configuration when the run starts. Pure but for the configuration it is handed.
"""

from __future__ import annotations

from collections.abc import Sequence

from wdh.config import Config

ALL = "all"
MULTI_DOMAIN_FIX = (
    "a plan of several domains is not saved and cannot be applied; run the same command with "
    "--execute (it plans again in its one transaction), or plan and apply one --domain at a time"
)
MULTI_DOMAIN_APPLY = f"--apply: {MULTI_DOMAIN_FIX}"
MULTI_DOMAIN_SHEET = (
    "--sheet names one domain's sheet: a run of several domains reads each one's configured sheet; "
    "leave --sheet out, or give one --domain"
)


def domain_value(values: Sequence[str]) -> str:
    """The request's ``domain`` from the flag's values: ``all``, one name, or names joined by commas."""
    names = list(dict.fromkeys(value.strip() for value in values))
    return ALL if ALL in names else ",".join(names)


def is_several(value: str) -> bool:
    """Whether a request's (or audit record's) ``domain`` names several domains."""
    return value == ALL or "," in value


def domains_chosen(config: Config, value: str) -> list[str]:
    """The configured domains ``value`` names, in the configuration's order. Raises the
    configuration's ``ConfigError`` for a name it does not declare."""
    if value == ALL:
        return list(config.domains)
    names = value.split(",")
    for name in names:
        config.domain(name)  # raises for an unknown one, naming the configured domains
    return [name for name in config.domains if name in names]
