"""``manage.py runserver``: Django's development server (with static files), started even when
``data_sources.yml`` is broken, so the admin stays available to look at past runs."""

from __future__ import annotations

from django.contrib.staticfiles.management.commands.runserver import Command as StaticFilesRunserver

from jobs.startup import WithoutConfigurationCheck


class Command(WithoutConfigurationCheck, StaticFilesRunserver):
    help = StaticFilesRunserver.help + " Starts even with a broken configuration (manage.py check reports it)."
