"""The ``--targets`` / ``--backfill-refs`` value: ``all`` or declared target names, comma-separated.

The names come from the configuration (every domain's ``refs``), never from a list in the code:
a target added to ``data_sources.yml`` is a valid choice at once. The value is checked here for
its shape and against the declared names; whether the chosen domain declares them is checked
when the run starts (a ``ConfigError`` naming ``domains.<domain>.refs``). Reads the
configuration file only.
"""

from __future__ import annotations

import argparse

from wdh.config import get_config
from wdh.errors import ConfigError


def declared_target_names() -> tuple[str, ...]:
    """Every domain's target names in dependency order, each once; none when the configuration
    is broken (the run then reports the configuration's own error)."""
    try:
        domains = get_config().domains.values()
    except ConfigError:
        return ()
    return tuple(dict.fromkeys(name for domain in domains for name in domain.refs))


def target_choice(text: str) -> str:
    """``all``, or the comma-separated names, each once (``plans, branches`` → ``plans,branches``)."""
    if text.strip() == "all":
        return "all"
    names = [name.strip() for name in text.split(",")]
    declared = declared_target_names()
    for name in names:
        if not name:
            raise argparse.ArgumentTypeError(f"{text!r} has an empty target name")
        if declared and name not in declared:
            raise argparse.ArgumentTypeError(f"unknown target {name!r} (declared: {', '.join(declared)}; or all)")
    return ",".join(dict.fromkeys(names))


def target_help(lead: str) -> str:
    """``lead`` followed by the declared names, for ``--help`` and the command reference."""
    names = declared_target_names()
    listed = "|".join(names) if names else "<declared target names>"
    return (
        f"{lead}: {listed} (comma-separated) or all. Processed in dependency order (each after the targets "
        "its `after` names), whatever order they are given in."
    )
