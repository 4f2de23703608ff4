"""The order reference targets are processed in: each after the targets its ``after`` names.

A target's rows can hold another target's keys (a portfolio names its plan), so the referenced
target is backfilled first. The order is topological and keeps the declared order wherever
``after`` leaves a choice, so a configuration reads top to bottom. An unknown name and a cycle
are configuration mistakes, reported with the key path of the ``after`` list. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping

from wdh.config_nodes import ConfigNode
from wdh.config_types import RefTarget


def targets_ordered(targets: Mapping[str, RefTarget], after_nodes: Mapping[str, ConfigNode]) -> dict[str, RefTarget]:
    """``targets`` in dependency order. Raises ConfigError at ``after_nodes[name]`` (the target's
    ``after`` list, or the target itself when it has none) for an unknown name or a cycle."""
    for name, target in targets.items():
        for index, dependency in enumerate(target.after):
            where = after_nodes[name].child(index, dependency)
            if dependency == name:
                raise where.fail(f"{name!r} cannot come after itself")
            if dependency not in targets:
                known = ", ".join(other for other in targets if other != name) or "none"
                raise where.fail(f"unknown target {dependency!r} (declared targets: {known})")
    ordered: dict[str, RefTarget] = {}
    while len(ordered) < len(targets):
        waiting = [name for name in targets if name not in ordered]
        ready = next((name for name in waiting if all(d in ordered for d in targets[name].after)), None)
        if ready is None:
            cycle = _cycle(targets, waiting)
            raise after_nodes[cycle[0]].fail(f"the targets' after lists form a cycle: {' → '.join(cycle)}")
        ordered[ready] = targets[ready]
    return ordered


def _cycle(targets: Mapping[str, RefTarget], waiting: list[str]) -> list[str]:
    """A cycle among the ``waiting`` targets: each waits for at least one other waiting target,
    so following those waits from the first must come back to a target already passed."""
    path = [waiting[0]]
    while True:
        following = next(d for d in targets[path[-1]].after if d in waiting)
        if following in path:
            return [*path[path.index(following) :], following]
        path.append(following)
