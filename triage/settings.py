"""Settings for the triage project, configured entirely from the environment.

Development needs nothing: SQLite and a broker on SQLite in the checkout. Production sets
DATABASE_URL, CELERY_BROKER_URL, DJANGO_SECRET_KEY, DJANGO_DEBUG=0, DJANGO_ALLOWED_HOSTS and
DJANGO_SECURE_SSL=1 (see README).
"""

import json
import os
import re
import tempfile
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from kombu import Queue

# One responder queue per route of the vocabulary (pure data: safe to read before Django starts).
from policies.registry import DEFAULT_ROUTE, ROUTE_INFO
from triage.env import env_bool, env_list

BASE_DIR = Path(__file__).resolve().parent.parent


DEBUG = env_bool("DJANGO_DEBUG", True)
_DEV_SECRET = "dev-only-insecure-secret-key-change-me-0123456789-abcdefghijklmnopqrstuvwxyz"  # noqa: S105 - development only
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", _DEV_SECRET if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "schools",
    # Sign-in (issue 16): allauth accounts, SSO through OpenID Connect, MFA, user sessions.
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.mfa",
    "allauth.usersessions",
    "accounts",
    "policies",
    "incidents",
    "reports",
]

MIDDLEWARE = [
    "triage.errors.ProductErrorPagesMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "triage.csp.ContentSecurityPolicyMiddleware",  # Django's, + SSO providers as form targets
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything reads the request: NUL bytes, bad UTF-8 and oversized API bodies.
    "triage.middleware.InputBoundaryMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Sign-in (issue 16): allauth's login stages, session list, and the MFA requirement.
    "allauth.account.middleware.AccountMiddleware",
    "accounts.middleware.IdleTimeoutMiddleware",
    "accounts.middleware.SecondFactorRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "schools.middleware.DistrictTimezoneMiddleware",
    # Last, as django-axes asks: it answers a locked-out sign-in.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "triage.urls"
# Error pages are the product's, also with DEBUG on (triage/errors.py); 1 shows Django's.
DEBUG_ERROR_PAGES = env_bool("DJANGO_DEBUG_ERROR_PAGES", False)
CSRF_FAILURE_VIEW = "triage.errors.csrf_failure"
WSGI_APPLICATION = "triage.wsgi.application"
ASGI_APPLICATION = "triage.asgi.application"

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
                "django.template.context_processors.csp",
                "schools.context_processors.navigation",
            ],
        },
    },
]

DATABASE_CONN_MAX_AGE = int(os.environ.get("DATABASE_CONN_MAX_AGE", "60"))  # prefork too
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=DATABASE_CONN_MAX_AGE,
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and os.environ.get(
    "DATABASE_POOL", "1"
) not in ("0", "false", "no"):
    # A psycopg connection pool per process, for its threads (prefork children use one plain
    # connection instead: triage/celery.py). The pool checks a connection before lending it,
    # so one broken by a database restart is replaced, not handed to a request.
    from psycopg_pool import ConnectionPool

    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps connections, not Django
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": int(os.environ.get("DATABASE_POOL_MIN", "1")),
        "max_size": int(os.environ.get("DATABASE_POOL_MAX", "20")),
        "timeout": float(os.environ.get("DATABASE_POOL_TIMEOUT", "10")),
        "check": ConnectionPool.check_connection,
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Prepared statements. Each filing ran the same statements (the API token's principal,
    # the insert) and PostgreSQL planned them every time: the token's five-table join took
    # 0.7 ms to plan and 0.1 ms to run. With server-side binding psycopg prepares a statement
    # on a connection once it has run this many times; 0 turns that off (for a PgBouncer in
    # transaction mode older than 1.21, which cannot keep prepared statements).
    _prepare = int(os.environ.get("DATABASE_PREPARE_THRESHOLD", "5"))
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"server_side_binding": True, "prepare_threshold": _prepare} if _prepare else {}
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share the file: wait for locks instead of failing, and take the
    # write lock up front so concurrent transactions queue instead of deadlocking.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # A file, not memory, so worker processes started by integration tests see the data.
    # One file per test run (parallel runs must not share it).
    DATABASES["default"]["TEST"] = {
        "NAME": os.path.join(tempfile.gettempdir(), f"triage-test-{os.getpid()}.sqlite3")
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "schools.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTHENTICATION_BACKENDS = [
    # django-axes first: it refuses a locked-out sign-in before the password is checked.
    "axes.backends.AxesStandaloneBackend",
    # Passwords through allauth, refused where a district turned them off (issue 16).
    "accounts.backends.DistrictPasswordBackend",
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("DJANGO_TIME_ZONE", "America/Denver")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Request bodies over 1 MB are refused (CONTRACT: intake).
DATA_UPLOAD_MAX_MEMORY_SIZE = 1_048_576

# --- Security -------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
# Idle timeout: a session unused this long ends; use pushes the expiry forward (at most
# every SESSION_TOUCH_SECONDS, so that most requests write nothing: accounts.middleware).
SESSION_IDLE_HOURS = float(os.environ.get("DJANGO_SESSION_IDLE_HOURS", "8"))
SESSION_COOKIE_AGE = int(SESSION_IDLE_HOURS * 3600)
SESSION_TOUCH_SECONDS = min(300, SESSION_COOKIE_AGE // 10)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# The header the deployment's own proxy sets with the client's address (e.g. X-Forwarded-For);
# unset, the address is the connection's (REMOTE_ADDR) and forwarded headers are ignored.
_proxy_header = os.environ.get("DJANGO_TRUSTED_PROXY_HEADER", "").strip()
TRUSTED_PROXY_HEADER = (
    ("HTTP_" + _proxy_header.upper().replace("-", "_")).replace("HTTP_HTTP_", "HTTP_")
    if _proxy_header
    else ""
)
# Content-Security-Policy from Django's own middleware: scripts and styles from our origin
# (or carrying the request's nonce) only; no inline script, no style attributes.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
# HTTPS behaviour has its own switch so DEBUG=0 still works over plain HTTP on loopback.
SECURE_SSL = env_bool("DJANGO_SECURE_SSL", False)
if SECURE_SSL:
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Sign-in: allauth, SSO, MFA, sessions (README "Sign-in") ------------------------------
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_FORMS = {"login": "accounts.forms.SignInForm"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*"]
ACCOUNT_EMAIL_VERIFICATION = "none"  # staff emails come from the roster or a verified SSO
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_SESSION_REMEMBER = False  # shared school computers: the session ends with the browser
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False  # accounts.adapters matches rostered people
SOCIALACCOUNT_STORE_TOKENS = False
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
# Enrolment is demanded right after sign-in, and SSO-only staff have no password to enter
# again; the middleware sends anyone who removes a required factor back to enrol.
MFA_REAUTHENTICATION_REQUIRED = False
MFA_TOTP_ISSUER = os.environ.get("MFA_TOTP_ISSUER", "School incident triage")
# Sessions are recorded at sign-in; tracking every request would cost queries on each page.
USERSESSIONS_TRACK_ACTIVITY = False
# Roles that must use a second factor; empty: nobody is made to.
MFA_REQUIRED_ROLES = env_list("DJANGO_MFA_REQUIRED_ROLES", "district_admin")


def sso_providers(raw: str) -> dict:
    """SSO_OIDC_PROVIDERS, a JSON list of {id, name, server_url, client_id, secret}, as
    allauth's settings-based OpenID Connect apps. google and clever need no server_url."""
    known_issuers = {"google": "https://accounts.google.com", "clever": "https://clever.com"}
    try:
        entries = json.loads(raw or "[]")
    except json.JSONDecodeError as exc:
        raise ImproperlyConfigured(f"SSO_OIDC_PROVIDERS is not JSON: {exc}") from exc
    apps = []
    for entry in entries:
        missing = [k for k in ("id", "name", "client_id", "secret") if not entry.get(k)]
        server_url = entry.get("server_url") or known_issuers.get(entry.get("id", ""))
        if missing or not server_url:
            raise ImproperlyConfigured(
                f"SSO_OIDC_PROVIDERS entry {entry.get('id', '?')!r} lacks "
                + ", ".join(missing or ["server_url"])
            )
        apps.append(
            {
                "provider_id": entry["id"],
                "name": entry["name"],
                "client_id": entry["client_id"],
                "secret": entry["secret"],
                "settings": {"server_url": server_url, "oauth_pkce_enabled": True},
            }
        )
    return {
        "openid_connect": {
            "provider_class": "accounts.sso.provider.StrictOpenIDConnectProvider",
            "APPS": apps,
        }
    }


SOCIALACCOUNT_PROVIDERS = sso_providers(os.environ.get("SSO_OIDC_PROVIDERS", ""))

# --- Sign-in lockout (django-axes) ----------------------------------------------------------
# One username from one address is locked for 15 minutes after 5 wrong passwords; a right one
# resets the count. Never by address alone: a whole school signs in from one address.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "triage.client_ip.client_ip"
AXES_LOCKOUT_TEMPLATE = "account/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False
AXES_DISABLE_ACCESS_LOG = True  # successful sign-ins are not kept with their addresses
# axes is the one lockout: allauth's own sign-in limits count per address (10 failures or 30
# sign-ins a minute from one IP), which would lock a whole school network out at 8 a.m.
ACCOUNT_RATE_LIMITS = {"login_failed": None, "login": None}

# --- Email ----------------------------------------------------------------------------------
# Django 6.1 mailers. EMAIL_BACKEND picks the backend; SMTP options come from EMAIL_HOST etc.
_email_backend = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
_email_options = {}
if _email_backend.endswith("smtp.EmailBackend"):
    _email_options = {
        "host": os.environ.get("EMAIL_HOST", "localhost"),
        "port": int(os.environ.get("EMAIL_PORT", "25")),
        "username": os.environ.get("EMAIL_HOST_USER", ""),
        "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
        "use_tls": env_bool("EMAIL_USE_TLS", False),
        "timeout": 10,
    }
MAILERS = {"default": {"BACKEND": _email_backend, "OPTIONS": _email_options}}
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "triage@localhost")
# The address in emails and the one the server prints; follows PORT (as `make run` serves).
SITE_URL = os.environ.get("SITE_URL", f"http://127.0.0.1:{os.environ.get('PORT', '8000')}").rstrip(
    "/"
)

# --- Celery ---------------------------------------------------------------------------------
# triage/celery.py reads every CELERY_* name here (config_from_object, namespace "CELERY").
CELERY_BROKER_URL = os.environ.get(
    "CELERY_BROKER_URL", f"sqla+sqlite:///{BASE_DIR / 'broker.sqlite3'}"
)
BROKER_IS_REDIS = CELERY_BROKER_URL.startswith(("redis://", "rediss://"))
REDIS_URL = os.environ.get("REDIS_URL") or (CELERY_BROKER_URL if BROKER_IS_REDIS else "")
# Seconds before Redis hands an unacknowledged message (its worker died) to another worker.
# A retry's countdown must stay below it (tests/test_celery.py checks): Redis would hand the
# waiting retry to a second worker too.
BROKER_VISIBILITY_TIMEOUT = int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "300"))
# Sending gives up quickly when Redis is down: the request that filed the incident must not
# wait, and the beat sweep re-sends from the database.
_SEND_RETRY = dict(max_retries=1, interval_start=0, interval_step=0.2, interval_max=0.2)
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {"visibility_timeout": BROKER_VISIBILITY_TIMEOUT, **_SEND_RETRY} if BROKER_IS_REDIS else {}
)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A queue per job, so a district can run dedicated workers per queue (e.g. one that only
# consumes responder.sro); a worker started without -Q consumes every queue declared here.
# Each queue has its own routing key: one declared without it is bound to the default key
# and would receive copies of default-queue tasks.
_RESPONDER_QUEUES = tuple(info.queue for info in ROUTE_INFO.values())
QUEUE_NAMES = ("routing", *_RESPONDER_QUEUES, "webhooks", "maintenance", "analysis")
CELERY_TASK_QUEUES = [Queue(name, routing_key=name) for name in QUEUE_NAMES]
CELERY_TASK_DEFAULT_QUEUE = "maintenance"
CELERY_TASK_DEFAULT_ROUTING_KEY = "maintenance"
CELERY_TASK_ROUTES = {
    task: {"queue": queue, "routing_key": queue}
    for task, queue in {
        "incidents.tasks.incident_route_task": "routing",
        "incidents.tasks.sweep_unrouted": "maintenance",
        "incidents.tasks.escalate_overdue": "maintenance",
        # A slow or failing receiver's retries never hold up escalation.
        "incidents.tasks.webhook_task": "webhooks",
        "reports.tasks.replay_end_stalled": "maintenance",
        "schools.tasks.oneroster_sync": "maintenance",
        # Long, CPU-bound what-if replays never hold up routing or deliveries.
        "reports.tasks.replay_run_task": "analysis",
        "reports.tasks.replay_chunk_task": "analysis",
        # Deliveries go to responder.<route>, chosen when sent: life-safety deliveries never
        # wait behind a backlog of others. This default only catches a send without a route.
        "incidents.tasks.deliver_task": ROUTE_INFO[DEFAULT_ROUTE].queue,
    }.items()
}
# Nothing accepted is lost: a task is acknowledged only after it ran, is handed back when
# its worker dies, and a worker holds one message at a time.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 60
CELERY_TASK_SOFT_TIME_LIMIT = 45
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_TIMEZONE = TIME_ZONE
CELERY_ENABLE_UTC = True
# How often beat re-sends unrouted incidents and checks acknowledge deadlines.
SWEEP_SECONDS = float(os.environ.get("TRIAGE_SWEEP_SECONDS", "10"))
# A what-if replay writes a heartbeat after every chunk (seconds apart); one silent this long
# has lost its worker or its message, and is ended so that a new replay can start.
REPLAY_STALLED_SECONDS = int(os.environ.get("TRIAGE_REPLAY_STALLED_SECONDS", "300"))

# OneRoster sync: beat imports a new set dropped in this folder (README "Roster sync").
ONEROSTER_DROP_DIR = os.environ.get("ONEROSTER_DROP_DIR", "")
ONEROSTER_DISTRICT = os.environ.get("ONEROSTER_DISTRICT", "")  # slug; needed with several
ONEROSTER_SYNC_SECONDS = float(os.environ.get("ONEROSTER_SYNC_SECONDS", "300"))
ONEROSTER_SETTLE_SECONDS = float(os.environ.get("ONEROSTER_SETTLE_SECONDS", "60"))
CELERY_BEAT_SCHEDULE = {
    # The incident row is its own outbox: anything still unrouted is sent again.
    "resend-unrouted": {"task": "incidents.tasks.sweep_unrouted", "schedule": SWEEP_SECONDS},
    "escalate-overdue": {"task": "incidents.tasks.escalate_overdue", "schedule": SWEEP_SECONDS},
    # A replay whose worker died or whose message was lost is ended, so a new one can start.
    "end-stalled-replays": {"task": "reports.tasks.replay_end_stalled", "schedule": 60.0},
    # A new OneRoster set in ONEROSTER_DROP_DIR is imported (a no-op when unset).
    "oneroster-sync": {
        "task": "schools.tasks.oneroster_sync",
        "schedule": ONEROSTER_SYNC_SECONDS,
    },
}
# Live updates: open event streams (tabs) one person may hold at once, across processes.
LIVE_STREAMS_PER_USER = int(os.environ.get("TRIAGE_LIVE_STREAMS_PER_USER", "10"))

# --- Cache ----------------------------------------------------------------------------------
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "triage.cache.RedisCache",  # one client per pool, not per call
            "LOCATION": REDIS_URL,
            "TIMEOUT": 300,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- REST framework -------------------------------------------------------------------------
_user_rate = os.environ.get("DJANGO_API_THROTTLE_USER", "1000/hour").strip()
if _user_rate.lower() not in {"off", "0", "none", ""} and not re.fullmatch(
    r"\d+/(s|sec|second|m|min|minute|h|hour|d|day)", _user_rate
):
    raise ImproperlyConfigured(
        f"DJANGO_API_THROTTLE_USER must be a DRF rate such as 1000/hour, or off; got {_user_rate!r}"
    )
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "triage.api.throttles.ThrottledTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "triage.pagination.Pagination",
    "DEFAULT_PARSER_CLASSES": [
        "triage.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "triage.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["triage.api.throttles.PerUserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        # DRF rate syntax (e.g. 1000/hour); "off" disables the per-user rate.
        "user": None if _user_rate.lower() in {"off", "0", "none", ""} else _user_rate,
        "failed_token": os.environ.get("DJANGO_API_THROTTLE_FAILED_TOKEN", "10/minute"),
    },
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "triage.api.negotiation.ContentNegotiation",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "School incident triage API",
    "DESCRIPTION": (
        "File school incidents and follow how they are routed to the least restrictive safe "
        "responder. Authenticate with `Authorization: Token <key>`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and the docs are for signed-in people only.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "triage.api.schema.error_responses_postprocess",
    ],
    "COMPONENT_SPLIT_REQUEST": True,
    # The docs page serves Swagger UI from our own static files, not from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Logging --------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
