"""Backfill audit records (managed): one :class:`BackfillRun` per run, with its files, row errors,
target results, inserted keys, filled cells, saved plan and fact archive."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models


class RunStatus(models.TextChoices):
    RUNNING = "running", "running (unfinished)"
    PLANNED = "planned", "planned (plan-only)"
    SUCCEEDED = "succeeded", "succeeded"
    FAILED = "failed", "failed"
    REFUSED_LOCKED = "refused_locked", "refused: another run in progress"
    ABANDONED = "abandoned", "abandoned (never finished)"
    INTERRUPTED = "interrupted", "interrupted (SIGTERM/SIGINT; rolled back)"


class RunMode(models.TextChoices):
    PLAN_ONLY = "plan_only", "plan-only"
    EXECUTE = "execute", "execute"


class RunContext(models.TextChoices):
    """How a run was started (``refs.audit.run_context``): only a declared ``cron`` is cron."""

    TERMINAL = "terminal", "terminal"
    NON_INTERACTIVE = "non-interactive", "non-interactive (no terminal)"
    CRON = "cron", "cron (WDH_RUN_CONTEXT=cron)"


class BackfillRun(models.Model):
    """One run of ``backfill_refs`` or ``run_job``: append-only, written by the run itself.

    The record is created (and committed) when the run starts, so a run killed mid-way stays
    visibly ``running``; an execute run writes its success and details inside the warehouse
    transaction, so "succeeded" is committed together with the changes it describes.
    """

    command = models.CharField(max_length=40, help_text="Management command that ran.")
    domain = models.TextField(help_text="Configured domain, e.g. annuity_performance (as given: it may be unknown).")
    mode = models.CharField(max_length=20, choices=RunMode.choices, help_text="Plan-only or execute.")
    backfill_mode = models.CharField(
        max_length=20, blank=True, help_text="insert_missing or fill_null_only; empty when no backfill ran."
    )
    targets = models.TextField(
        blank=True, help_text="all, or the declared target names comma-separated; empty when none."
    )
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.RUNNING, db_index=True)
    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    user = models.CharField(max_length=150, help_text="Operating-system user that ran the command.")
    host = models.CharField(max_length=255)
    via = models.CharField(
        max_length=20,
        choices=RunContext.choices,
        help_text="terminal when stdin or stderr is one; else WDH_RUN_CONTEXT (cron), or non-interactive.",
    )
    pid = models.IntegerField(help_text="Process id, to tell a running run from an abandoned one.")
    argv = models.JSONField(default=list, help_text="The command line as given.")
    options = models.JSONField(default=dict, help_text="The options after parsing.")
    working_dir = models.CharField(
        max_length=4096, blank=True, default="", help_text="The directory the command was started in."
    )
    config_path = models.TextField()
    config_digest = models.CharField(max_length=64, help_text="SHA-256 of data_sources.yml and its mapping files.")
    statements = models.JSONField(default=list, help_text="SQL the run sent (execute) or would send (plan-only).")
    warnings = models.JSONField(default=list)
    summary = models.JSONField(default=dict, help_text="The run's result as printed by --format json.")
    error = models.TextField(blank=True)
    error_where = models.TextField(blank=True, help_text="Step, file, sheet, row, column or key.")
    stage = models.CharField(
        max_length=60, blank=True, help_text="The step the run was in when it ended (see refs.run_stages)."
    )
    facts_deleted = models.IntegerField(null=True, blank=True)
    facts_inserted = models.IntegerField(null=True, blank=True)
    row_errors = models.IntegerField(default=0)
    inserted_total = models.IntegerField(default=0, help_text="Reference keys inserted (or that would be).")
    filled_total = models.IntegerField(default=0, help_text="Reference cells filled (or that would be).")
    applies = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="applied_by",
        help_text="The plan-only run whose saved plan this run applied (--apply RUN_ID).",
    )
    reverted_run = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reverts",
        help_text="revert_run: the execute run this run reverts (or, plan-only, would revert).",
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = "backfill run"
        constraints = [  # a plan is applied at most once, whatever races the lock misses
            models.UniqueConstraint(fields=["applies"], condition=models.Q(status="succeeded"), name="run_applies_once")
        ]
        # The one change the admin makes to an audit record: approve or reject a saved plan
        # (refs.plan_lifecycle). Granted per user or group; superusers have it.
        permissions = [("approve_run", "Can approve or reject a plan-only run's saved plan")]

    def __str__(self) -> str:
        return f"run {self.pk} · {self.command} {self.mode} · {self.status}"

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class RunFile(models.Model):
    """A workbook a run read."""

    run = models.ForeignKey(BackfillRun, on_delete=models.CASCADE, related_name="files")
    # Text, not a bounded varchar: any path the filesystem allows is kept whole. No btree index
    # (an entry over ~2,700 bytes is refused); the admin searches paths by substring anyway.
    path = models.TextField()
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    sheet = models.TextField(blank=True)
    rows_read = models.IntegerField(default=0)
    rows_valid = models.IntegerField(default=0)
    header = models.JSONField(
        default=list, help_text="The sheet's column names as written: the columns of its rejects."
    )

    def __str__(self) -> str:
        return self.path


class RunRowError(models.Model):
    """A row a run left out because it failed cleansing: where (as Excel shows it), value, why,
    and the row's cells as read (``source``)."""

    run = models.ForeignKey(BackfillRun, on_delete=models.CASCADE, related_name="row_error_items")
    file = models.CharField(max_length=2000)
    sheet = models.CharField(max_length=255)
    row = models.IntegerField(help_text="Row number as Excel shows it.")
    column = models.CharField(max_length=255)
    value = models.TextField(null=True, help_text="The cell as read; NULL when the cell was empty.")
    message = models.TextField()
    source = models.TextField(
        blank=True,
        help_text="The row's cells as read, in the sheet's column order (JSON text written by refs.rejects; "
        "not jsonb, which refuses \\u0000): the row to correct, in the rejects workbook.",
    )

    class Meta:
        ordering = ["id"]  # the order the run met them: file, then row

    def __str__(self) -> str:
        return f"{self.file} [{self.sheet}] row {self.row}, {self.column}"


class RunTarget(models.Model):
    """Per-target counts of a run (from the database, not from the candidate list)."""

    run = models.ForeignKey(BackfillRun, on_delete=models.CASCADE, related_name="target_results")
    target = models.CharField(max_length=63, db_index=True)  # a declared target name (an identifier)
    table = models.CharField(max_length=400, help_text="Quoted, qualified table name.")
    candidates = models.IntegerField()
    inserted = models.IntegerField(default=0)
    already_present = models.IntegerField(default=0)
    cells_filled = models.JSONField(default=dict, help_text="Column → number of cells filled.")
    rows_changed = models.IntegerField(default=0)
    warnings = models.JSONField(default=list, help_text="One readable line each (a long list of values sampled).")
    warning_details = models.JSONField(default=list, help_text="The same warnings with every value named.")

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.target} {self.table}"


class RunKey(models.Model):
    """A reference key a run inserted (or, plan-only, would insert)."""

    run = models.ForeignKey(BackfillRun, on_delete=models.CASCADE, related_name="keys")
    target = models.CharField(max_length=63)
    key = models.CharField(max_length=255, db_index=True)

    class Meta:
        ordering = ["target", "key"]
        indexes = [
            models.Index(fields=["run", "target", "key"], name="runkey_run_target_key"),
            models.Index(fields=["target", "key"], name="runkey_target_key"),  # "created by run"
        ]

    def __str__(self) -> str:
        return f"{self.target}:{self.key}"


class RunCell(models.Model):
    """A cell a run filled (or, plan-only, would fill): key, column and the new value."""

    run = models.ForeignKey(BackfillRun, on_delete=models.CASCADE, related_name="cells")
    target = models.CharField(max_length=63)
    key = models.CharField(max_length=255, db_index=True)
    column = models.CharField(max_length=63)
    value = models.TextField()

    class Meta:
        ordering = ["target", "key", "column"]
        indexes = [models.Index(fields=["run", "target", "key"], name="runcell_run_target_key")]

    def __str__(self) -> str:
        return f"{self.target}:{self.key}.{self.column}"


class PlanState(models.TextChoices):
    """Where a saved plan is in its life (refs.plan_lifecycle): planned → approved, rejected or
    superseded → (approved only) applied or refused. Only planned and approved can still change."""

    PLANNED = "planned", "planned (waiting for review)"
    APPROVED = "approved", "approved (cron applies it)"
    REJECTED = "rejected", "rejected"
    SUPERSEDED = "superseded", "superseded by a newer plan"
    APPLIED = "applied", "applied"
    REFUSED = "refused", "refused when applied"


class RunPlan(models.Model):
    """The plan a plan-only run saved, so ``--apply RUN_ID`` can write exactly it (refs.saved_plans).

    ``data`` is zlib-compressed JSON of candidate data (insert rows, fills, fact scopes with their
    row counts, files with SHA-256, the configuration digest), not rendered text. The other
    fields are the plan's state and who or what set it (refs.plan_lifecycle): the only fields of
    an audit record that change after its run ended, each by one conditional UPDATE."""

    run = models.OneToOneField(BackfillRun, on_delete=models.CASCADE, related_name="saved_plan")
    data = models.BinaryField(help_text="zlib-compressed JSON written by refs.saved_plans.")
    state = models.CharField(max_length=20, choices=PlanState.choices, default=PlanState.PLANNED, db_index=True)
    months = ArrayField(
        models.CharField(max_length=7),
        default=list,
        blank=True,
        help_text="YYYY-MM named by the plan's workbooks (file name, else folder): a newer plan for the "
        "same domain and one of these months supersedes this one.",
    )
    reviewed_by = models.CharField(max_length=150, blank=True, help_text="The admin user who approved or rejected it.")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_comment = models.TextField(blank=True)
    superseded_by = models.ForeignKey(
        BackfillRun,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="superseded_plans",
        help_text="The newer plan-only run for the same domain and month.",
    )
    outcome_run = models.ForeignKey(
        BackfillRun,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="settled_plans",
        help_text="The run that applied this plan, or refused to (state applied or refused).",
    )
    refusal = models.TextField(blank=True, help_text="Why applying it was refused (what changed since).")

    def __str__(self) -> str:
        return f"plan of run {self.run_id}"


class ArchiveKind(models.TextChoices):
    DELETED = "deleted", "deleted by the run (kept whole)"
    INSERTED = "inserted", "inserted by the run"


class FactArchive(models.Model):
    """What an execute run's load did to a fact table, so ``revert_run`` can take it back: the
    rows it deleted (one archive row per delete scope and block of ids, every column of every
    row as text, to put them back as they were), or the rows it inserted (one archive row per
    delete scope, with their ids, to delete them). Append-only, written in the run's transaction
    (``refs.archive``), so an archive row carries the run's ``xmin`` as the fact rows it wrote
    do. Earlier runs have one ``inserted`` row per fact row (``fact_id``, before migration 0009)
    or one ``deleted`` row per fact row (``fact_id`` and the row as JSON, before 0010); every
    form is read."""

    run = models.ForeignKey(BackfillRun, on_delete=models.CASCADE, related_name="fact_archive")
    table = models.CharField(max_length=400, help_text="Quoted, qualified fact table.")
    kind = models.CharField(max_length=10, choices=ArchiveKind.choices)
    fact_id = models.BigIntegerField(
        null=True, blank=True, help_text="Runs before migrations 0009/0010: the one fact row's id."
    )
    fact_ids = ArrayField(
        models.BigIntegerField(),
        null=True,
        blank=True,
        help_text="The ids of the scope's fact rows the run inserted, or deleted (in the order of rows).",
    )
    scope = models.JSONField(help_text="The delete_insert scope: its pk columns and values.")
    row = models.JSONField(null=True, blank=True, help_text="Runs before migration 0010: the deleted row (to_jsonb).")
    columns = ArrayField(
        models.TextField(),
        null=True,
        blank=True,
        help_text="Deleted rows: the fact table's columns when the run deleted them, in table order.",
    )
    rows = ArrayField(
        ArrayField(models.TextField()),
        null=True,
        blank=True,
        help_text="Deleted rows: one array per row (ids as in fact_ids), each column's value as text, NULL as NULL.",
    )

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["run", "kind"], name="factarchive_run_kind")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(fact_id__isnull=False) ^ models.Q(fact_ids__isnull=False),
                name="factarchive_one_id_or_ids",
            ),
            models.CheckConstraint(
                condition=models.Q(columns__isnull=True, rows__isnull=True)
                | models.Q(columns__isnull=False, rows__isnull=False),
                name="factarchive_rows_with_columns",
            ),
        ]

    def __str__(self) -> str:
        ids = f"id {self.fact_id}" if self.fact_id is not None else f"{len(self.fact_ids or [])} id(s)"
        return f"run {self.run_id} {self.kind} {self.table} {ids}"
