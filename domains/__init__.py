"""The sheet types of the monthly workbook, one package each (see :mod:`facts.domain`).

A package is a Django app listed in ``settings.INSTALLED_APPS``: its ``apps.py`` registers its
:class:`~facts.domain.Domain` when Django is ready; ``models.py`` holds its fact table's layout.
Domain packages import the generic ``facts`` / ``refs`` machinery and the kernel, never each
other, the jobs or the commands (import-linter contracts in ``pyproject.toml``).
"""
