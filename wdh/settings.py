"""Django settings for wdh. Everything deployment-specific comes from the environment.

| variable | meaning | default |
|---|---|---|
| ``DATABASE_URL`` | the warehouse PostgreSQL | an embedded server under ``.wdh/pgdata`` |
| ``SECRET_KEY`` | Django's signing key | a random key kept in ``.wdh/secret_key`` |
| ``DEBUG`` | ``1`` turns on Django's debug pages | off |
| ``ALLOWED_HOSTS`` | comma-separated host names for the admin | localhost only |
| ``WDH_DATA_SOURCES`` | path of ``data_sources.yml`` | ``wdh/data_sources.yml`` |
| ``WDH_DATA_BASE_DIR`` | root that relative ``base_dir`` entries resolve against | project directory |
| ``WDH_MAPPINGS_DIR`` | a second folder mapping files may come from | only the configuration's folder |
| ``WDH_HTTPS`` | ``1`` when the admin is served over HTTPS (secure cookies, HSTS) | off |
| ``WDH_LOG_LEVEL`` | level of the ``wdh`` loggers | ``INFO`` |
| ``WDH_LOCK_TIMEOUT`` | longest a run waits for a lock another session holds (PostgreSQL ``lock_timeout``) | ``30s`` |
| ``WDH_STATEMENT_TIMEOUT`` | longest one statement of a run may take (``statement_timeout``) | ``30min`` |
| ``WDH_MAX_PART_MB`` | largest decompressed size of one part of a workbook (a larger one is refused) | ``1024`` |
| ``WDH_RUN_CONTEXT`` | ``cron`` in a crontab line: audit records say so (``refs.audit.run_context``) | detected |
| ``WDH_STATIC_ROOT`` | where ``collectstatic`` puts the admin's CSS and JS, served by WhiteNoise | ``.wdh/static`` |
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from wdh.database import configured_database

BASE_DIR = Path(__file__).resolve().parent.parent
STATE_DIR = BASE_DIR / ".wdh"


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _secret_key() -> str:
    """The environment's key, else one generated once and kept (mode 600) in ``.wdh/``."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = STATE_DIR / "secret_key"
    if not path.exists():
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = _flag("DEBUG")
ALLOWED_HOSTS = [
    host.strip() for host in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if host.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "refs",  # before staticfiles: its runserver (which starts with a broken configuration) wins
    "django.contrib.staticfiles",
    "facts",
    "refs.declared",  # the reference tables declared only in data_sources.yml (no migrations)
    # The sheet types (domains), one package each (facts.domain): the sample workbook's sheets
    # follow this order.
    "domains.annuity_performance",
    "domains.annuity_income",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Right after SecurityMiddleware (WhiteNoise's documented place): the admin's CSS and JS are
    # served by the application itself with DEBUG off, under runserver and gunicorn alike.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "wdh.urls"
WSGI_APPLICATION = "wdh.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": configured_database(BASE_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TZ_NAME", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Filled by `collectstatic` (scripts/bootstrap.sh does it); .wdh/ is git-ignored.
STATIC_ROOT = Path(os.environ.get("WDH_STATIC_ROOT") or STATE_DIR / "static")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Gzip copies beside the originals. Not the hashed "manifest" storage: with it, every admin page
    # is a server error in a checkout where collectstatic has not run yet; here it is only unstyled.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Production hardening; `manage.py check --deploy` is clean with WDH_HTTPS=1 (README "Deploying").
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
if _flag("WDH_HTTPS"):
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

WDH_DATA_SOURCES = Path(os.environ.get("WDH_DATA_SOURCES") or BASE_DIR / "wdh" / "data_sources.yml")
WDH_DATA_BASE_DIR = Path(os.environ.get("WDH_DATA_BASE_DIR") or BASE_DIR)
WDH_MAPPINGS_DIR = Path(os.environ["WDH_MAPPINGS_DIR"]) if os.environ.get("WDH_MAPPINGS_DIR") else None
# PostgreSQL durations ("30s", "500ms", "30min"; "0" turns the limit off), set on a run's session.
WDH_LOCK_TIMEOUT = os.environ.get("WDH_LOCK_TIMEOUT", "").strip() or "30s"
WDH_STATEMENT_TIMEOUT = os.environ.get("WDH_STATEMENT_TIMEOUT", "").strip() or "30min"
WDH_MAX_PART_MB = int(os.environ.get("WDH_MAX_PART_MB") or 1024)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "line": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "line"},
    },
    "loggers": {
        "wdh": {
            "handlers": ["stderr"],
            "level": os.environ.get("WDH_LOG_LEVEL", "INFO"),
            "propagate": False,
        },
    },
}
