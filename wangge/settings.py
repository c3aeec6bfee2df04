"""Settings for wangge, read from environment variables with safe defaults.

No variable set means *embedded mode*: SQLite in WAL mode under the data directory
(``WANGGE_DATA_DIR``, default ``./wangge-data``), tasks run in-process.

Variables:
- ``WANGGE_DATA_DIR``   where the database, keys, uploads and collected static files live
- ``DATABASE_URL``      e.g. ``postgres://postgres@127.0.0.1:5432/wangge``; SQLite when unset
- ``WANGGE_SECRET_KEY`` Django's secret key; generated once into the data directory when unset
- ``WANGGE_DEBUG``      ``1`` for debug pages (never in production)
- ``WANGGE_ALLOWED_HOSTS`` comma-separated host names (default: localhost names)
- ``WANGGE_TILE_URL``   a map tile URL template for the intranet tile server; empty = plain map
- ``WANGGE_LANGUAGE``   default UI language (``zh-hans`` or ``en``)
"""

from __future__ import annotations

import os
import secrets
from importlib.util import find_spec
from pathlib import Path

import dj_database_url
import xstatic.pkg.leaflet

BASE_DIR = Path(__file__).resolve().parent


def _env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DATA_DIR = Path(os.environ.get("WANGGE_DATA_DIR", "wangge-data")).resolve()


def _secret_key() -> str:
    """The key from the environment, else the data directory's key file.

    ``wangge`` commands create the key file on first use (see ``wangge.cli``); a process that
    runs without one (e.g. the test suite) gets a throw-away key and touches no disk.
    """
    key = os.environ.get("WANGGE_SECRET_KEY")
    if key:
        return key
    try:
        return (DATA_DIR / "secret_key").read_text().strip()
    except FileNotFoundError:
        return secrets.token_urlsafe(50)


SECRET_KEY = _secret_key()
DEBUG = _env_bool("WANGGE_DEBUG")
ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("WANGGE_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver").split(
        ","
    )
    if h.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "ninja",  # serves the API docs (Swagger UI) from its own static files, not a CDN
    "wangge.core",
    "wangge.regions",
    "wangge.accounts",
    "wangge.people",
    "wangge.verification",
    "wangge.events",
    "wangge.workforce",
    "wangge.points",
    "wangge.cockpit",
    "wangge.perception",
    "wangge.cameras",
    "django_tasks_db",
    "wangge.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "wangge.accounts.middleware.SessionIdleMiddleware",
    "wangge.accounts.middleware.LoginRequired",
    "wangge.accounts.middleware.TwoFactorMiddleware",
    "wangge.accounts.middleware.ActivePostMiddleware",
    "wangge.core.http.BusyMiddleware",
]

ROOT_URLCONF = "wangge.urls"
WSGI_APPLICATION = "wangge.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "wangge.core.context_processors.site",
                "wangge.accounts.context_processors.post",
                "wangge.events.context_processors.events",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------------
_database_url = os.environ.get("DATABASE_URL", "").strip()
if _database_url:
    DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "wangge.sqlite3",
            "OPTIONS": {
                # WAL lets readers run beside the writer; IMMEDIATE avoids lock upgrades
                # failing half-way through a write transaction.
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                    "PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000;"
                ),
                "transaction_mode": "IMMEDIATE",
            },
            "TEST": {"NAME": None},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Covering indexes (INCLUDE) are PostgreSQL's; on SQLite the same index is made without its
# included columns, which is what we want there: no warning on every command.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

# --- background work ------------------------------------------------------------------------
TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}

# --- caches ---------------------------------------------------------------------------------
_redis_url = os.environ.get("REDIS_URL", "").strip()
if _redis_url:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _redis_url,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- auth -----------------------------------------------------------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "/"
# Lockout (等保 level 3 practice): failures per account and per address within the window.
WANGGE_LOCKOUT_ATTEMPTS = int(os.environ.get("WANGGE_LOCKOUT_ATTEMPTS", "5"))
WANGGE_LOCKOUT_IP_ATTEMPTS = int(os.environ.get("WANGGE_LOCKOUT_IP_ATTEMPTS", "5"))
WANGGE_LOCKOUT_MINUTES = int(os.environ.get("WANGGE_LOCKOUT_MINUTES", "30"))
WANGGE_LOGIN_RATE_PER_MINUTE = int(os.environ.get("WANGGE_LOGIN_RATE_PER_MINUTE", "30"))
# Sessions: signed out after this long without a request, and after the absolute lifetime.
WANGGE_SESSION_IDLE_SECONDS = int(os.environ.get("WANGGE_SESSION_IDLE_SECONDS", "1800"))
SESSION_COOKIE_AGE = int(os.environ.get("WANGGE_SESSION_MAX_AGE_SECONDS", str(12 * 3600)))
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# --- personal data ------------------------------------------------------------------------
# Unmasks a post may make in an hour before further ones are refused and a security alert is
# raised (audited as people.unmask_refused).
WANGGE_UNMASK_PER_HOUR = int(os.environ.get("WANGGE_UNMASK_PER_HOUR", "30"))
WANGGE_UNMASKED_EXPORTS_PER_DAY = int(os.environ.get("WANGGE_UNMASKED_EXPORTS_PER_DAY", "5"))

# --- audit ------------------------------------------------------------------------------------
WANGGE_AUDIT_RETENTION_DAYS = int(os.environ.get("WANGGE_AUDIT_RETENTION_DAYS", "365"))
# Parallel hash chains of the audit log: concurrent appends lock one chain's head each.
WANGGE_AUDIT_CHAINS = int(os.environ.get("WANGGE_AUDIT_CHAINS", "16"))
if WANGGE_AUDIT_RETENTION_DAYS < 183:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "WANGGE_AUDIT_RETENTION_DAYS must be at least 183 (等保 level 3: six months of audit "
        f"records); it is {WANGGE_AUDIT_RETENTION_DAYS}."
    )

# --- i18n -----------------------------------------------------------------------------------
LANGUAGE_CODE = os.environ.get("WANGGE_LANGUAGE", "zh-hans")
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "Asia/Shanghai"
USE_TZ = True

# --- static and uploads ---------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [
    ("leaflet", xstatic.pkg.leaflet.BASE_DIR),
    # plotly.js as the plotly package ships it (its package_data), served from here: no CDN
    ("plotly", Path(find_spec("plotly").origin).parent / "package_data"),
]
MEDIA_URL = "/media/"
MEDIA_ROOT = DATA_DIR / "uploads"

# --- security headers -----------------------------------------------------------------------
from django.utils.csp import CSP  # noqa: E402


def _tile_sources() -> list[str]:
    """The intranet tile server named by WANGGE_TILE_URL may serve images to the map."""
    from urllib.parse import urlsplit

    url = os.environ.get("WANGGE_TILE_URL", "")
    if not url:
        return []
    parts = urlsplit(url)
    host = parts.netloc.replace("{s}", "*")
    return [f"{parts.scheme}://{host}"] if parts.scheme and host else []


SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],  # Leaflet and Swagger UI set inline styles
    "img-src": [CSP.SELF, "data:", *_tile_sources()],
    "connect-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}
# Behind HTTPS (production): secure cookies, HSTS, redirect plain HTTP.
_https = _env_bool("WANGGE_HTTPS")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = _https
SECURE_SSL_REDIRECT = _https
SECURE_HSTS_SECONDS = 31_536_000 if _https else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = _https
SECURE_HSTS_PRELOAD = _https
# Behind our own reverse proxy: trust its X-Forwarded-Proto and the address it appends to
# X-Forwarded-For (lockouts and the audit trail then see the real client, not the proxy).
WANGGE_TRUST_X_FORWARDED_FOR = _env_bool("WANGGE_BEHIND_PROXY")
if WANGGE_TRUST_X_FORWARDED_FOR:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- wangge ---------------------------------------------------------------------------------
WANGGE_TILE_URL = os.environ.get("WANGGE_TILE_URL", "")
# How far outside the city's bounding box a point may lie before it is refused (kilometres).
WANGGE_LOCATE_MAX_OUTSIDE_KM = float(os.environ.get("WANGGE_LOCATE_MAX_OUTSIDE_KM", "30"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("WANGGE_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}


# Background work: Django's task framework with the database backend (django-tasks-db); `wangge
# serve` starts one worker beside the web server, `wangge worker` runs one on its own. The
# worker also schedules the periodic jobs (deadline sweep, notice delivery) every
# WANGGE_PERIODIC_SECONDS.
TASKS = {
    "default": {
        "BACKEND": os.environ.get("WANGGE_TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default"],
    }
}
WANGGE_PERIODIC_SECONDS = int(os.environ.get("WANGGE_PERIODIC_SECONDS", "60"))
# Smart sensing: the MQTT broker the device bridge subscribes to (mqtt://user:pass@host:1883);
# empty in the embedded default, where devices post over HTTP only.
WANGGE_MQTT_URL = os.environ.get("WANGGE_MQTT_URL", "")
# Notice delivery beyond the inbox: dotted paths of callables taking a Notification.
WANGGE_NOTIFY_BACKENDS = [
    b
    for b in os.environ.get("WANGGE_NOTIFY_BACKENDS", "wangge.events.notify.log_backend").split(",")
    if b
]
WANGGE_PHOTO_MAX_BYTES = int(os.environ.get("WANGGE_PHOTO_MAX_BYTES", str(10 * 1024 * 1024)))
WANGGE_PHOTO_MAX_PIXELS = int(os.environ.get("WANGGE_PHOTO_MAX_PIXELS", str(50_000_000)))

# --- the grid workforce ---------------------------------------------------------------------
# A check-in or check-out farther than this outside the worker's place is allowed but flagged.
WANGGE_DUTY_FAR_METERS = float(os.environ.get("WANGGE_DUTY_FAR_METERS", "300"))
# A duty session still open after this many hours no longer counts as "on duty now".
WANGGE_DUTY_MAX_HOURS = float(os.environ.get("WANGGE_DUTY_MAX_HOURS", "12"))
# Places (assignments) a worker of each kind holds before the coverage report calls them
# overloaded; override per kind, e.g. WANGGE_WORKER_MAX_LOAD="micro=3,full_time=2".
WANGGE_WORKER_MAX_LOAD = {
    "full_time": 2,
    "micro": 2,
    "cadre": 2,
    "volunteer": 3,
    "police": 8,
    "emergency": 8,
    "veterans": 8,
    **{
        k.strip(): int(v)
        for k, _sep, v in (
            item.partition("=")
            for item in os.environ.get("WANGGE_WORKER_MAX_LOAD", "").split(",")
            if "=" in item
        )
    },
}
