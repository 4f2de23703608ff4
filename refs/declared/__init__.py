"""The reference tables declared only in the configuration, as a Django app of their own.

An app without migrations: its unmanaged models are built from ``data_sources.yml`` when Django
loads them, so a table added to the configuration needs no migration (the autodetector leaves
an app without a migrations package alone), yet its models are in the project's registry, with
content types and permissions for the admin like every other model.
"""
