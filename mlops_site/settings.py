"""cellwise settings: every value comes from the environment (see .env.example).

With nothing set, everything runs embedded: SQLite, the django-q2 ORM broker, an MLflow
`sqlite:` store with local artifacts, local file storage and the bundled 5G dataset.
A bad value stops start-up with an error naming the variable (mlops_site.env).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from mlops_site.env import EnvReader

env = EnvReader()
BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env.str("CELLWISE_VAR_DIR", str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _local_secret_key() -> str:
    """Embedded default only: a random key kept in var/ so sessions survive restarts."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


# --- Django core -------------------------------------------------------------------------
# production: refuse to start with DEBUG, a missing or placeholder secret key, or "*" hosts.
CELLWISE_ENV = env.str("CELLWISE_ENV", "development", choices=["development", "production"])
PRODUCTION = CELLWISE_ENV == "production"
SECRET_KEY = env.str("DJANGO_SECRET_KEY") or ("" if PRODUCTION else _local_secret_key())
DEBUG = env.bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS")
if PRODUCTION:
    from mlops_site.hardening import production_problems

    _problems = production_problems(debug=DEBUG, secret_key=SECRET_KEY, allowed_hosts=ALLOWED_HOSTS)
    if _problems:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("refusing to start in production: " + "; ".join(_problems))

# Security headers (and cookies that only travel over HTTPS in production).
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", PRODUCTION)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", 0, min=0)
if env.bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Request size limits: API bodies are small JSON documents.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", 1024 * 1024, min=1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_q",
    "ninja",  # serves the API docs' Swagger UI from static files instead of a CDN
    "mlops_site",
    "access",
    "telemetry",
    "registry",
    "training",
    "inference",
    "performance",
    "alerts",
]

MIDDLEWARE = [
    "mlops_site.middleware.RequestIdMiddleware",
    "mlops_site.middleware.ApiMethodNotAllowedMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "mlops_site.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "mlops_site.urls"
WSGI_APPLICATION = "mlops_site.wsgi.application"
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
                "access.context_processors.roles",
            ],
        },
    },
]

DATABASES = {"default": env.database("DATABASE_URL", f"sqlite:///{VAR_DIR / 'cellwise.sqlite3'}")}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Web and worker processes share one file: wait for locks instead of failing at once.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", 60, min=0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

# --- Seed variables ------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", "INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
API_HOST = env.str("API_HOST", "0.0.0.0")
API_PORT = env.int("API_PORT", 8060, min=1, max=65535)
ML_PORT = env.int("ML_PORT", 8060, min=1, max=65535)  # the seed's second name for the port

MONITORING_ENABLED = env.bool("MONITORING_ENABLED", True)
MONITORING_INTERVAL_SECONDS = env.int("MONITORING_INTERVAL_SECONDS", 300, min=10)
MONITORING_DEGRADATION_FACTOR = env.float("MONITORING_DEGRADATION_FACTOR", 1.5, min=1.0)
# Routine monitoring rows (auto_monitor scores, check events) older than this are pruned daily; 0 keeps all.
HISTORY_RETENTION_DAYS = env.int("HISTORY_RETENTION_DAYS", 90, min=0)
# Per-cell insight and a calmer election (issue 16): a challenger replaces the field's best only
# when its error is lower by more than this fraction (0 keeps the old "any improvement" rule);
# the default is argued in bench/README.md ("Election margin"). Replays of a retrain policy
# cover at most REPLAY_MAX_CHECKS checks.
ELECTION_MARGIN = env.float("ELECTION_MARGIN", 0.02, min=0.0, max=0.5)
REPLAY_MAX_CHECKS = env.int("REPLAY_MAX_CHECKS", 50_000, min=1)
# A learned model brings its fields' naive forecasters (persistence, lookback mean) at its window,
# lookback and forecast: created with it, trained beside its jobs, so every election counts them
# and a field never serves a forecast worse than theirs (registry.services.naive_forecasters_ensure).
NAIVE_MODELS_AUTO = env.bool("NAIVE_MODELS_AUTO", True)

# --- MLflow (the experiment tracker and a mirror of the registry) ---------------------------
MLFLOW_TRACKING_URI = env.url(
    "MLFLOW_TRACKING_URI",
    f"sqlite:///{VAR_DIR / 'mlflow.db'}",
    schemes=("http", "https", "sqlite", "postgresql", "postgresql+psycopg", "file"),
)
# Where runs keep artifacts when the tracking store is local (a server chooses its own).
MLFLOW_ARTIFACT_LOCATION = env.str(
    "MLFLOW_ARTIFACT_LOCATION",
    None if MLFLOW_TRACKING_URI.startswith("http") else (VAR_DIR / "mlartifacts").as_uri(),
)
MLFLOW_REQUEST_TIMEOUT_SECONDS = env.int("MLFLOW_REQUEST_TIMEOUT_SECONDS", 10, min=1)
MLFLOW_REQUEST_MAX_RETRIES = env.int("MLFLOW_REQUEST_MAX_RETRIES", 2, min=0)
MLFLOW_EXPERIMENT_PREFIX = env.str("MLFLOW_EXPERIMENT_PREFIX", "cellwise")
# Where people open MLflow in a browser (admin links to runs); the tracking server by default.
MLFLOW_UI_URL = env.url("MLFLOW_UI_URL", MLFLOW_TRACKING_URI if MLFLOW_TRACKING_URI.startswith("http") else None,
                        schemes=("http", "https"))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(MLFLOW_REQUEST_TIMEOUT_SECONDS))
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(MLFLOW_REQUEST_MAX_RETRIES))

# --- Weight bundles: S3 (MinIO) when an endpoint or bucket is set, else local files ---------
AWS_ACCESS_KEY_ID = env.str("AWS_ACCESS_KEY_ID")
AWS_SECRET_ACCESS_KEY = env.str("AWS_SECRET_ACCESS_KEY")
AWS_S3_ENDPOINT_URL = env.url("AWS_S3_ENDPOINT_URL", schemes=("http", "https"))
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", "cellwise")
AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME", "us-east-1")
MODEL_STORAGE_BACKEND = env.str(
    "MODEL_STORAGE_BACKEND", "s3" if AWS_S3_ENDPOINT_URL else "local", choices=["local", "s3"]
)
# Bounds on one request to S3: a bundle read with S3 down answers 503 within seconds. The read
# timeout is the longest silence allowed mid-transfer, not a limit on the whole download.
MODEL_STORAGE_CONNECT_TIMEOUT_SECONDS = env.float("MODEL_STORAGE_CONNECT_TIMEOUT_SECONDS", 2, min=0.1, max=60)
MODEL_STORAGE_READ_TIMEOUT_SECONDS = env.float("MODEL_STORAGE_READ_TIMEOUT_SECONDS", 5, min=0.1, max=120)
MODEL_STORAGE_MAX_ATTEMPTS = env.int("MODEL_STORAGE_MAX_ATTEMPTS", 2, min=1, max=5)
# How often crash leftovers are removed: bundles no version references and no active job will
# claim, MLflow runs left RUNNING by a dead process (manage.py reconcile_leftovers does it now).
LEFTOVERS_RECONCILE_MINUTES = env.int("LEFTOVERS_RECONCILE_MINUTES", 15, min=1)
if MODEL_STORAGE_BACKEND == "s3":
    from botocore.config import Config as _BotoConfig

    _model_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": AWS_S3_ENDPOINT_URL,
            "access_key": AWS_ACCESS_KEY_ID,
            "secret_key": AWS_SECRET_ACCESS_KEY,
            "region_name": AWS_S3_REGION_NAME,
            "addressing_style": "path",
            "file_overwrite": False,
            "location": "bundles",
            # A request to S3 down or hung fails within attempts × (connect or read timeout).
            # total_max_attempts counts the first request too (botocore's max_attempts does not).
            "client_config": _BotoConfig(
                connect_timeout=MODEL_STORAGE_CONNECT_TIMEOUT_SECONDS, read_timeout=MODEL_STORAGE_READ_TIMEOUT_SECONDS,
                retries={"total_max_attempts": MODEL_STORAGE_MAX_ATTEMPTS, "mode": "standard"}),
        },
    }
else:
    _model_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": VAR_DIR / "bundles"},
    }
# The MLflow client writes artifacts to S3 itself when the tracking server does not proxy them
# (an s3:// artifact root instead of --artifacts-destination); same S3 as the bundles by default.
MLFLOW_S3_ENDPOINT_URL = env.url("MLFLOW_S3_ENDPOINT_URL", AWS_S3_ENDPOINT_URL, schemes=("http", "https"))
if MLFLOW_S3_ENDPOINT_URL:
    os.environ.setdefault("MLFLOW_S3_ENDPOINT_URL", MLFLOW_S3_ENDPOINT_URL)
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": VAR_DIR / "media"},
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    "models": _model_storage,
}

# --- Telemetry sources -----------------------------------------------------------------------
# auto: the Data Storage API when its URL is set, else ClickHouse when its DSN is set, else the
# bundled dataset. Inference prefers ClickHouse for "latest windows" whenever a DSN is set.
TELEMETRY_SOURCE = env.str(
    "TELEMETRY_SOURCE", "auto", choices=["auto", "embedded", "data_storage", "clickhouse"]
)
DATA_STORAGE_API_URL = env.url("DATA_STORAGE_API_URL", schemes=("http", "https"))
DATA_STORAGE_DATA_ENDPOINT = env.str("DATA_STORAGE_DATA_ENDPOINT", "/api/v1/processed")
DATA_STORAGE_EXAMPLE_ENDPOINT = env.str("DATA_STORAGE_EXAMPLE_ENDPOINT", "/api/v1/processed/example")
DATA_STORAGE_CELL_ENDPOINT = env.str("DATA_STORAGE_CELL_ENDPOINT", "/api/v1/cell")
DATA_STORAGE_EXCLUDED_FIELDS = env.list(
    "DATA_STORAGE_EXCLUDED_FIELDS",
    [
        "window_start_time", "window_end_time", "window_duration_seconds", "cell_index",
        "network", "sample_count", "ip_src", "is_empty_window", "forward_filled", "knn_filled",
    ],
)
DATA_STORAGE_COMPONENT_ID = env.str("DATA_STORAGE_COMPONENT_ID")
DATA_STORAGE_TOKEN = env.str("DATA_STORAGE_TOKEN")
DATA_STORAGE_PAGE_SIZE = env.int("DATA_STORAGE_PAGE_SIZE", 1000, min=1, max=1000)
DATA_STORAGE_DATA_TIMEOUT_SECONDS = env.float("DATA_STORAGE_DATA_TIMEOUT_SECONDS", 60, min=0.1)
DATA_STORAGE_EXAMPLE_TIMEOUT_SECONDS = env.float("DATA_STORAGE_EXAMPLE_TIMEOUT_SECONDS", 10, min=0.1)
DATA_STORAGE_CELL_TIMEOUT_SECONDS = env.float("DATA_STORAGE_CELL_TIMEOUT_SECONDS", 30, min=0.1)
# Requests in flight at once when many cells are read (each retried on its own).
DATA_STORAGE_CONCURRENCY = env.int("DATA_STORAGE_CONCURRENCY", 8, min=1, max=64)

CLICKHOUSE_DSN = env.url("CLICKHOUSE_DSN", schemes=("http", "https", "chdb", "clickhouse"))
CLICKHOUSE_SCHEMA = env.str("CLICKHOUSE_SCHEMA", "map", choices=["wide", "map"])  # era A | era B
# A ClickHouse server that does not connect, or answer a query, within these is down (a 503 naming
# it); reads of 10,000 cells take 1-3 s here. The driver's own default read timeout is 300 s.
CLICKHOUSE_CONNECT_TIMEOUT_SECONDS = env.float("CLICKHOUSE_CONNECT_TIMEOUT_SECONDS", 3, min=0.1, max=60)
CLICKHOUSE_READ_TIMEOUT_SECONDS = env.float("CLICKHOUSE_READ_TIMEOUT_SECONDS", 30, min=0.1, max=3600)
CLICKHOUSE_TABLE = env.str(
    "CLICKHOUSE_TABLE", "analytics.processed" if CLICKHOUSE_SCHEMA == "map" else "analytics.processed_latency"
)

# --- Forecasts for a whole network (issue 13: batch forecasts, stored, the Network page) ----
# A minute schedule forecasts every cell of each field with an elected best, once per window.
FORECAST_SCHEDULE_ENABLED = env.bool("FORECAST_SCHEDULE_ENABLED", True)
FORECAST_CHUNK_CELLS = env.int("FORECAST_CHUNK_CELLS", 1000, min=1, max=10000)  # cells per worker task
# A chunk claimed longer ago than this is a dead worker's: the next tick queues it again, up to
# FORECAST_CHUNK_MAX_ATTEMPTS claims, then fails it (so its run ends and says so).
FORECAST_CHUNK_LEASE_SECONDS = env.int("FORECAST_CHUNK_LEASE_SECONDS", 300, min=10)
FORECAST_CHUNK_MAX_ATTEMPTS = env.int("FORECAST_CHUNK_MAX_ATTEMPTS", 2, min=1, max=10)
FORECAST_RETENTION_DAYS = env.int("FORECAST_RETENTION_DAYS", 7, min=0)  # 0 keeps every stored forecast
# Where stored forecasts live: auto = ClickHouse when CLICKHOUSE_DSN is set, else the database.
FORECAST_STORE = env.str("FORECAST_STORE", "auto", choices=["auto", "database", "clickhouse"])
FORECAST_CLICKHOUSE_TABLE = env.str("FORECAST_CLICKHOUSE_TABLE", "cellwise.forecasts")

EMBEDDED_DATA_DIRS = [BASE_DIR / "telemetry" / "data" / "uccmisl-5g", VAR_DIR / "measurements"]
EMBEDDED_REPLAY = env.bool("EMBEDDED_REPLAY", False)
EMBEDDED_REPLAY_ANCHOR = env.str("EMBEDDED_REPLAY_ANCHOR")  # ISO time; default: first use, kept in var/
EMBEDDED_REPLAY_LEAD_SECONDS = env.int("EMBEDDED_REPLAY_LEAD_SECONDS", 7200, min=0)
FIELD_DISCOVERY_CACHE_SECONDS = env.int("FIELD_DISCOVERY_CACHE_SECONDS", 60, min=0)

# --- Calls to dependencies (core/resilience.py): one retry policy, two profiles -------------
# Request path (web requests): retries within a total deadline per call; after BREAKER_FAILURES
# failed calls in a row a dependency is "known down" and calls fail at once for the cooldown.
REQUEST_RETRIES = env.int("REQUEST_RETRIES", 2, min=0, max=10)
REQUEST_BACKOFF_SECONDS = env.float("REQUEST_BACKOFF_SECONDS", 0.2, min=0)
REQUEST_DEADLINE_SECONDS = env.float("REQUEST_DEADLINE_SECONDS", 3.0, min=0.1)
BREAKER_FAILURES = env.int("BREAKER_FAILURES", 3, min=1)
BREAKER_COOLDOWN_SECONDS = env.float("BREAKER_COOLDOWN_SECONDS", 15.0, min=0)
# Background (training fetches): patient; 10 retries with backoff 1, 2, 4 … 30 s ride out a
# 30 % fault rate (a job makes ~100 page requests) and outages of a few minutes.
BACKGROUND_RETRIES = env.int("BACKGROUND_RETRIES", 10, min=0, max=100)
BACKGROUND_BACKOFF_SECONDS = env.float("BACKGROUND_BACKOFF_SECONDS", 1.0, min=0)
BACKGROUND_BACKOFF_MAX_SECONDS = env.float("BACKGROUND_BACKOFF_MAX_SECONDS", 30.0, min=0)

# GET /v1/health: probes run in parallel and the answer waits at most this long (compose's
# healthcheck gives up after 10 s); the answer is cached a few seconds per process.
HEALTH_TIMEOUT_SECONDS = env.float("HEALTH_TIMEOUT_SECONDS", 0.8, min=0.05)
HEALTH_CACHE_SECONDS = env.float("HEALTH_CACHE_SECONDS", 5.0, min=0)

# --- Training and evaluation ------------------------------------------------------------------
DAY = 86_400
TRAINING_DEFAULT_LOOKBACK_SECONDS = env.int("TRAINING_DEFAULT_LOOKBACK_SECONDS", 120 * DAY, min=60)
TRAINING_MIN_LOOKBACK_SECONDS = env.int("TRAINING_MIN_LOOKBACK_SECONDS", 3600, min=60)
TRAINING_MAX_LOOKBACK_SECONDS = env.int("TRAINING_MAX_LOOKBACK_SECONDS", 400 * DAY, min=60)
# A running job that shows no life (epoch or heartbeat) for this long is failed by recovery.
TRAINING_STALE_SECONDS = env.int("TRAINING_STALE_SECONDS", 900, min=60)
# The most recent span of data is held out of training and used for scoring, so every score
# is on windows the version never saw. 15 days by default: the bundled data's last 15 days
# hold 21 of its 24 cells (production usually sets a day: 86400).
EVALUATION_SPAN_SECONDS = env.int("EVALUATION_SPAN_SECONDS", 15 * DAY, min=60)

EVALUATION_MAX_CELLS = env.int("EVALUATION_MAX_CELLS", 50, min=1)
# Cells never used for training (so scores can be read on cells a model has never seen), and
# an optional fixed list of cells to score on (default: every cell, up to EVALUATION_MAX_CELLS).
TRAINING_HOLDOUT_CELLS = env.int_list("TRAINING_HOLDOUT_CELLS")
EVALUATION_CELLS = env.int_list("EVALUATION_CELLS")
EVALUATION_MAX_ORIGINS_PER_CELL = env.int("EVALUATION_MAX_ORIGINS_PER_CELL", 1000, min=1)
# Gap filling (task "quality"): inference and training samples fill up to this many missing
# windows inside one lookback (linear interpolation; targets are never filled). 0 turns it off.
MAX_FILLED_WINDOWS = env.int("MAX_FILLED_WINDOWS", 2, min=0)
INFERENCE_CACHE_SIZE = env.int("INFERENCE_CACHE_SIZE", 32, min=1)
# Training on a bounded, representative set (issue 13): a job reads at most TRAINING_MAX_CELLS
# cells (a stratified sample of a larger network) and keeps at most TRAINING_MAX_SAMPLES samples
# (training/sampling.py). 1,000 cells span every kind of cell many times over and read in ~1 s per
# day of 60 s windows from ClickHouse; 200,000 samples (~55 MB for 12 steps of 5 inputs) keep an
# epoch of the ann to seconds on one thread, and the fit's copies well under 1 GB.
TRAINING_MAX_CELLS = env.int("TRAINING_MAX_CELLS", 1000, min=1)
TRAINING_MAX_SAMPLES = env.int("TRAINING_MAX_SAMPLES", 200_000, min=3)

# --- Latest windows and readiness at network scale (telemetry/latest_cache.py, inference/readiness.py) ---
# A cell's latest windows are reused until its next window closes, plus this lag for the upstream
# to write it (the Django cache: per process, shared by every process with CACHE_URL on Redis).
LATEST_WINDOWS_CACHE = env.bool("LATEST_WINDOWS_CACHE", True)
LATEST_WINDOWS_CACHE_LAG_SECONDS = env.float("LATEST_WINDOWS_CACHE_LAG_SECONDS", 5.0, min=0)
# Readiness reads every cell in one pass on ClickHouse and the bundled data; over the Data Storage
# API (one request per cell) it stops after this long and lists the rest as not checked.
READINESS_BUDGET_SECONDS = env.float("READINESS_BUDGET_SECONDS", 2.0, min=0)

# Prediction intervals (training/conformal.py): the coverage a forecast's lower/upper bounds
# aim at unless the request names one, and the nominal coverage evaluations measure.
INTERVAL_COVERAGE = env.float("INTERVAL_COVERAGE", 0.9, min=0.01, max=0.99)

# Realised accuracy (performance/realised.py): stored forecasts joined with the windows that have
# arrived. At most REALISED_MAX_ROWS forecast rows are read per request (newest first), over the
# last REALISED_DEFAULT_HOURS unless asked, bucketed by REALISED_BUCKET_SECONDS. The monitor scores
# the best on `backtest` (re-scoring recent data) or `realised` (its stored forecasts over the last
# interval; at least MONITORING_REALISED_MIN_COUNT of them, else it falls back to the backtest).
REALISED_MAX_ROWS = env.int("REALISED_MAX_ROWS", 200_000, min=1)
REALISED_DEFAULT_HOURS = env.float("REALISED_DEFAULT_HOURS", 24.0, min=0.01)
REALISED_BUCKET_SECONDS = env.int("REALISED_BUCKET_SECONDS", 3600, min=60)
MONITORING_SCORE_SOURCE = env.str("MONITORING_SCORE_SOURCE", "backtest", choices=["backtest", "realised"])
MONITORING_REALISED_MIN_COUNT = env.int("MONITORING_REALISED_MIN_COUNT", 30, min=1)

# --- Web processes (gunicorn: mlops_site/gunicorn_conf.py) ------------------------------------------
WEB_WORKERS = env.int("WEB_WORKERS", 2, min=1)
WEB_THREADS = env.int("WEB_THREADS", 16, min=1)
# Load shedding (mlops_site/admission.py): requests each process works on at once (0: no limit),
# how many more may wait for a slot and for how long; any other gets 503 with this Retry-After.
# Defaults measured on 2 cores (bench/load.py): 2 slots held p99 under 0.7 s at 3x capacity,
# where 4 slots with 8 waiting let GIL contention slow the refusals themselves (p99 20 s).
ADMISSION_MAX_CONCURRENT = env.int("ADMISSION_MAX_CONCURRENT", 2, min=0)
ADMISSION_MAX_WAITING = env.int("ADMISSION_MAX_WAITING", 4, min=0)
ADMISSION_WAIT_SECONDS = env.float("ADMISSION_WAIT_SECONDS", 0.25, min=0, max=30)
ADMISSION_RETRY_AFTER_SECONDS = env.int("ADMISSION_RETRY_AFTER_SECONDS", 1, min=1)
if ADMISSION_MAX_CONCURRENT and ADMISSION_MAX_CONCURRENT + ADMISSION_MAX_WAITING >= WEB_THREADS:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        f"ADMISSION_MAX_CONCURRENT + ADMISSION_MAX_WAITING ({ADMISSION_MAX_CONCURRENT + ADMISSION_MAX_WAITING}) "
        f"must be below WEB_THREADS ({WEB_THREADS}): spare threads answer the 503s of a saturated process")

# --- Alerts (alerts/, README "Alerts") -------------------------------------------------------
# Where people open cellwise: the links in alert payloads are absolute URLs under it.
PUBLIC_BASE_URL = env.url("PUBLIC_BASE_URL", f"http://localhost:{API_PORT}", schemes=("http", "https"))
# The most one webhook attempt may take (connect, send, answer): a receiver that is down or hung
# holds a worker no longer than this.
ALERTS_WEBHOOK_TIMEOUT_SECONDS = env.float("ALERTS_WEBHOOK_TIMEOUT_SECONDS", 5, min=0.1, max=60)
# Webhooks never reach private, loopback, link-local (cloud metadata at 169.254.169.254) or other
# non-public addresses, unless they are in these networks: an internal receiver must be listed.
# Development (not CELLWISE_ENV=production) allows this machine's loopback.
ALERTS_WEBHOOK_ALLOWED_NETWORKS = env.networks("ALERTS_WEBHOOK_ALLOWED_NETWORKS",
                                               () if PRODUCTION else ("127.0.0.0/8", "::1/128"))
# A failed attempt is retried after RETRY_BASE, doubling up to RETRY_MAX, until RETRY_SPAN after
# the event; then the delivery is failed. Retries run on a minute schedule (django-q2's finest).
ALERTS_RETRY_BASE_SECONDS = env.float("ALERTS_RETRY_BASE_SECONDS", 60, min=0.1)
ALERTS_RETRY_MAX_SECONDS = env.float("ALERTS_RETRY_MAX_SECONDS", 3600, min=0.1)
ALERTS_RETRY_SPAN_SECONDS = env.float("ALERTS_RETRY_SPAN_SECONDS", 86400, min=1)
# A dependency of /v1/health down for longer than this sends dependency.down (watched every minute).
ALERTS_DEPENDENCY_DOWN_SECONDS = env.int("ALERTS_DEPENDENCY_DOWN_SECONDS", 300, min=0)

# --- API ---------------------------------------------------------------------------------------
API_PUBLIC_READS = env.bool("API_PUBLIC_READS", False)
API_PAGE_SIZE_MAX = 500

# --- django-q2 -----------------------------------------------------------------------------------
# `retry` must exceed `timeout`, or a long task is handed to a second worker while it still runs.
Q_BROKER = env.str("Q_BROKER", "orm", choices=["orm", "redis"])
Q_WORKERS = env.int("Q_WORKERS", 2, min=1)
Q_TASK_TIMEOUT_SECONDS = env.int("Q_TASK_TIMEOUT_SECONDS", 3600, min=10)
# SIGTERM/SIGINT to `manage.py worker`: running jobs get this long to stop on their own (a
# training job fails at its next epoch); then the rest is killed and its jobs failed. Keep it
# below the supervisor's kill timeout (compose stop_grace_period, systemd TimeoutStopSec).
WORKER_STOP_GRACE_SECONDS = env.float("WORKER_STOP_GRACE_SECONDS", 20, min=0)
Q_CLUSTER = {
    "name": "cellwise",
    "workers": Q_WORKERS,
    "timeout": Q_TASK_TIMEOUT_SECONDS,
    "retry": Q_TASK_TIMEOUT_SECONDS + 600,
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "poll": 0.5,
    "recycle": 50,
}
if Q_BROKER == "redis":
    Q_CLUSTER["redis"] = env.url("REDIS_URL", "redis://127.0.0.1:6379/0", schemes=("redis", "rediss"))
else:
    Q_CLUSTER["orm"] = "default"

# --- Caches, metrics ------------------------------------------------------------------------------
# A shared cache (CACHE_URL=rediscache://…) makes the sign-in rate limits hold across processes.
CACHES = {"default": env.cache("CACHE_URL", "locmemcache://")}
# Prometheus: GET /metrics needs this key (Authorization: Bearer <key>); unset, the endpoint is off.
METRICS_KEY = env.str("METRICS_KEY")

# --- Client addresses and sign-in throttles (access.clients, access.throttle) --------------------
# X-Forwarded-For is believed only from these direct peers (addresses or CIDRs of your reverse
# proxies); the client is then the right-most forwarded address that is not one of them.
TRUSTED_PROXIES = env.networks("TRUSTED_PROXIES")
# Attempts per client address and, separately, per user name: (count, seconds).
TOKEN_RATE_LIMIT = env.rate("TOKEN_RATE_LIMIT", "10/m")  # POST /v1/auth/token
LOGIN_RATE_LIMIT = env.rate("LOGIN_RATE_LIMIT", "10/m")  # POST /login/

# --- Logging -----------------------------------------------------------------------------------
# Structured logs through structlog: JSON lines in production (LOG_FORMAT=json), readable text
# otherwise; every line carries the request id or the job id it belongs to.
LOG_FORMAT = env.str("LOG_FORMAT", "json" if PRODUCTION else "console", choices=["json", "console"])
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"structured": {"()": "mlops_site.logs.formatter", "json": LOG_FORMAT == "json"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "httpx": {"level": "WARNING"},
        # Warns on every pickle-format log_model; our serving artifact is the weights-only bundle.
        "mlflow.pytorch": {"level": "ERROR"},
    },
}
