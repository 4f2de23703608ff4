"""The top layer under the commands: a run of the monthly job or of a revert — its request, its
plan and apply, its result, how it ends, its rendering — and the warehouse DDL. Built on the
kernel (``wdh``), the facts and refs machinery and the domain packages; nothing below imports it
(import-linter contracts in ``pyproject.toml``)."""
