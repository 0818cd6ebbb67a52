"""Settings read from the environment, with the embedded defaults.

| variable                             | default                              |
|--------------------------------------|--------------------------------------|
| ``DATABASE_URL``                     | SQLite file ``instance/lendmatch.sqlite`` |
| ``LENDMATCH_APR_CAP``                | ``0.24`` (the regulatory APR ceiling) |
| ``LENDMATCH_PRODUCTS_PER_APPLICATION`` | ``5`` (K, products routed per application) |
| ``LENDMATCH_CAP_TIMEZONE``           | ``Asia/Shanghai`` (when daily caps reset) |
| ``LENDMATCH_MAX_BODY_BYTES``         | ``65536`` (larger request bodies get 413) |
| ``LENDMATCH_PRODUCTS_PER_CHANNEL``   | none; ``ecommerce=3,app=5`` sets K per channel |
| ``LENDMATCH_COOLDOWN_SECONDS``       | ``86400`` (see below)                |
| ``LENDMATCH_PLATFORM_FEE_RATE``      | ``0.02`` (platform fee per CNY lent) |
| ``LENDMATCH_APR_BENEFIT_WEIGHT``     | ``1.0`` (borrower's gain per point below the APR cap) |
| ``LENDMATCH_VALUE_WEIGHT``           | ``1.0`` (expected value against reach) |
| ``LENDMATCH_INQUIRY_COST``           | ``0.0`` (a product is routed only if its score beats it) |
| ``LENDMATCH_USAGE_REFRESH_SECONDS``  | ``1.0`` (how old a worker's view of daily caps may be) |
| ``LENDMATCH_MAX_WAVES``              | ``3`` (routing waves per application before no_match) |
| ``LENDMATCH_WEBHOOK_TIMEOUT_SECONDS`` | ``5`` (an institution's endpoint must answer within) |
| ``LENDMATCH_WEBHOOK_RETRY_SECONDS``  | ``10`` (first retry delay; doubles each time, ≤ 1 hour) |
| ``LENDMATCH_WEBHOOK_MAX_ATTEMPTS``   | ``12`` (then the delivery is marked failed) |
| ``LENDMATCH_WEBHOOK_CONCURRENCY``    | ``8`` (institutions sent to side by side) |
| ``LENDMATCH_EXPLORATION_RATE``       | ``0.1`` (share of waves chosen on a Thompson sample) |
| ``LENDMATCH_MODEL_REFRESH_SECONDS``  | ``5`` (how old a worker's models and prices may be) |
| ``LENDMATCH_PRICE_STEP``             | ``1.0`` (online price step, see learning/prices.py) |
| ``LENDMATCH_LOSS_GIVEN_DEFAULT``     | ``0.6`` (share of a bad loan lost, for expected loss) |
| ``LENDMATCH_WEIGHT_MULTIPLIER_MIN``  | ``0.25`` (bounds of the learned weight multiplier) |
| ``LENDMATCH_WEIGHT_MULTIPLIER_MAX``  | ``2.0``                              |
| ``LENDMATCH_ROUTING_SEED``           | none (seed exploration, for reproducible runs) |
| ``LENDMATCH_SECRET_KEY``             | random, kept in ``instance/secret_key`` (see below) |
| ``LENDMATCH_SECURE_COOKIES``         | ``false`` (``true`` behind HTTPS: cookie over HTTPS only) |
| ``LENDMATCH_RATE_LIMIT_PER_MINUTE``  | ``6000`` (requests per key per minute; ``0``: no limit) |
| ``LENDMATCH_LOG_FORMAT``             | ``json`` (one JSON object per line) or ``text`` |
| ``LENDMATCH_METRICS_TOKEN``          | none (``/metrics`` open); set: a bearer token it requires |
| ``LENDMATCH_LOG_LEVEL``              | ``INFO``                             |

The secret key signs the ops console's session cookie; every host must share one value.

Within the cool-down, an applicant (``external_id``) who already has an open application
gets that one back instead of new credit inquiries.
How these enter the routing objective is written down in ``matching/scoring.py``.
"""

import os
from collections.abc import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import ConfigurationError

# The sales channels an application can come from (products.models.Channel's values;
# spelled out here so that configuration loads before any model does).
CHANNELS = frozenset({"app", "ecommerce", "travel", "education", "retail", "social", "partner"})

DEFAULTS = {
    "APR_CAP": 0.24,
    "PRODUCTS_PER_APPLICATION": 5,
    "CAP_TIMEZONE": "Asia/Shanghai",
    "MAX_CONTENT_LENGTH": 64 * 1024,
    "PRODUCTS_PER_CHANNEL": {},
    "COOLDOWN_SECONDS": 86400,
    "PLATFORM_FEE_RATE": 0.02,
    "APR_BENEFIT_WEIGHT": 1.0,
    "VALUE_WEIGHT": 1.0,
    "INQUIRY_COST": 0.0,
    "USAGE_REFRESH_SECONDS": 1.0,
    "MAX_WAVES": 3,
    "WEBHOOK_TIMEOUT_SECONDS": 5.0,
    "WEBHOOK_RETRY_SECONDS": 10.0,
    "WEBHOOK_MAX_ATTEMPTS": 12,
    "WEBHOOK_CONCURRENCY": 8,
    "EXPLORATION_RATE": 0.1,
    "MODEL_REFRESH_SECONDS": 5.0,
    "PRICE_STEP": 1.0,
    "LOSS_GIVEN_DEFAULT": 0.6,
    "WEIGHT_MULTIPLIER_MIN": 0.25,
    "WEIGHT_MULTIPLIER_MAX": 2.0,
    "ROUTING_SEED": None,
    "SECRET_KEY": None,
    "SESSION_COOKIE_SECURE": False,
    "RATE_LIMIT_PER_MINUTE": 6000,
    "LOG_FORMAT": "json",
    "LOG_LEVEL": "INFO",
    "METRICS_TOKEN": None,
}


def channel_counts(raw: str) -> dict[str, int]:
    """``"ecommerce=3,app=5"`` → ``{"ecommerce": 3, "app": 5}``."""
    counts = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        channel, equals, count = part.partition("=")
        if not equals:
            raise ValueError(part)
        counts[channel.strip()] = int(count)
    return counts

def flag(raw: str) -> bool:
    """``true``/``false`` (also ``1``/``0``, ``yes``/``no``, ``on``/``off``)."""
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


ENVIRONMENT = {
    "DATABASE_URL": ("DATABASE_URL", str),
    "LENDMATCH_APR_CAP": ("APR_CAP", float),
    "LENDMATCH_PRODUCTS_PER_APPLICATION": ("PRODUCTS_PER_APPLICATION", int),
    "LENDMATCH_CAP_TIMEZONE": ("CAP_TIMEZONE", str),
    "LENDMATCH_MAX_BODY_BYTES": ("MAX_CONTENT_LENGTH", int),
    "LENDMATCH_PRODUCTS_PER_CHANNEL": ("PRODUCTS_PER_CHANNEL", channel_counts),
    "LENDMATCH_COOLDOWN_SECONDS": ("COOLDOWN_SECONDS", int),
    "LENDMATCH_PLATFORM_FEE_RATE": ("PLATFORM_FEE_RATE", float),
    "LENDMATCH_APR_BENEFIT_WEIGHT": ("APR_BENEFIT_WEIGHT", float),
    "LENDMATCH_VALUE_WEIGHT": ("VALUE_WEIGHT", float),
    "LENDMATCH_INQUIRY_COST": ("INQUIRY_COST", float),
    "LENDMATCH_USAGE_REFRESH_SECONDS": ("USAGE_REFRESH_SECONDS", float),
    "LENDMATCH_MAX_WAVES": ("MAX_WAVES", int),
    "LENDMATCH_WEBHOOK_TIMEOUT_SECONDS": ("WEBHOOK_TIMEOUT_SECONDS", float),
    "LENDMATCH_WEBHOOK_RETRY_SECONDS": ("WEBHOOK_RETRY_SECONDS", float),
    "LENDMATCH_WEBHOOK_MAX_ATTEMPTS": ("WEBHOOK_MAX_ATTEMPTS", int),
    "LENDMATCH_WEBHOOK_CONCURRENCY": ("WEBHOOK_CONCURRENCY", int),
    "LENDMATCH_EXPLORATION_RATE": ("EXPLORATION_RATE", float),
    "LENDMATCH_MODEL_REFRESH_SECONDS": ("MODEL_REFRESH_SECONDS", float),
    "LENDMATCH_PRICE_STEP": ("PRICE_STEP", float),
    "LENDMATCH_LOSS_GIVEN_DEFAULT": ("LOSS_GIVEN_DEFAULT", float),
    "LENDMATCH_WEIGHT_MULTIPLIER_MIN": ("WEIGHT_MULTIPLIER_MIN", float),
    "LENDMATCH_WEIGHT_MULTIPLIER_MAX": ("WEIGHT_MULTIPLIER_MAX", float),
    "LENDMATCH_ROUTING_SEED": ("ROUTING_SEED", int),
    "LENDMATCH_SECRET_KEY": ("SECRET_KEY", str),
    "LENDMATCH_SECURE_COOKIES": ("SESSION_COOKIE_SECURE", flag),
    "LENDMATCH_RATE_LIMIT_PER_MINUTE": ("RATE_LIMIT_PER_MINUTE", int),
    "LENDMATCH_LOG_FORMAT": ("LOG_FORMAT", str),
    "LENDMATCH_LOG_LEVEL": ("LOG_LEVEL", str),
    "LENDMATCH_METRICS_TOKEN": ("METRICS_TOKEN", str),
}


def from_environment(environ: Mapping[str, str]) -> dict:
    settings = {}
    for variable, (key, convert) in ENVIRONMENT.items():
        raw = environ.get(variable)
        if raw is None or raw == "":
            continue
        try:
            settings[key] = convert(raw)
        except ValueError:
            kind = {channel_counts: "list of channel=count",
                    flag: "true/false"}.get(convert, convert.__name__)
            raise ConfigurationError(f"{variable}={raw!r} is not a valid {kind}") from None
    return settings


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whichever spelling the operator used."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def check(config: Mapping) -> None:
    cap = config["APR_CAP"]
    if not 0 < cap <= 1:
        raise ConfigurationError(f"APR cap must be a fraction in (0, 1], got {cap}")
    if config["PRODUCTS_PER_APPLICATION"] < 1:
        raise ConfigurationError("products per application (K) must be at least 1")
    for channel, count in config["PRODUCTS_PER_CHANNEL"].items():
        if channel not in CHANNELS:
            raise ConfigurationError(f"unknown channel {channel!r} in products per channel; "
                                     f"known: {', '.join(sorted(CHANNELS))}")
        if count < 1:
            raise ConfigurationError(f"products per application for {channel} must be >= 1")
    for key in ("MAX_WAVES", "WEBHOOK_MAX_ATTEMPTS", "WEBHOOK_CONCURRENCY"):
        if config[key] < 1:
            raise ConfigurationError(f"{key} must be at least 1, got {config[key]}")
    for key in ("WEBHOOK_TIMEOUT_SECONDS", "WEBHOOK_RETRY_SECONDS"):
        if not 0 < config[key] < float("inf"):
            raise ConfigurationError(f"{key} must be a positive number, got {config[key]}")
    if config["COOLDOWN_SECONDS"] < 0:
        raise ConfigurationError("the cool-down cannot be negative")
    if not 0 <= config["EXPLORATION_RATE"] <= 1:
        raise ConfigurationError("EXPLORATION_RATE must be in [0, 1], got "
                                 f"{config['EXPLORATION_RATE']}")
    if not 0 < config["WEIGHT_MULTIPLIER_MIN"] <= 1 <= config["WEIGHT_MULTIPLIER_MAX"]:
        raise ConfigurationError("weight multiplier bounds must satisfy 0 < min <= 1 <= max")
    for key in ("PLATFORM_FEE_RATE", "APR_BENEFIT_WEIGHT", "VALUE_WEIGHT", "INQUIRY_COST",
                "USAGE_REFRESH_SECONDS", "MODEL_REFRESH_SECONDS", "PRICE_STEP",
                "LOSS_GIVEN_DEFAULT"):
        if not 0 <= config[key] < float("inf"):
            raise ConfigurationError(f"{key} must be a finite number >= 0, got {config[key]}")
    if config["RATE_LIMIT_PER_MINUTE"] < 0:
        raise ConfigurationError("RATE_LIMIT_PER_MINUTE must be >= 0 (0 turns it off)")
    if config["METRICS_TOKEN"] is not None and len(config["METRICS_TOKEN"]) < 16:
        raise ConfigurationError("METRICS_TOKEN must be at least 16 characters (or unset)")
    if config["LOG_FORMAT"] not in ("json", "text"):
        raise ConfigurationError(f"LOG_FORMAT must be json or text, got {config['LOG_FORMAT']!r}")
    if config["LOG_LEVEL"].upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigurationError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got "
                                 f"{config['LOG_LEVEL']!r}")
    try:
        ZoneInfo(config["CAP_TIMEZONE"])
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(f"unknown timezone {config['CAP_TIMEZONE']!r}") from None


def load(app, overrides: Mapping | None = None) -> None:
    app.config.from_mapping(DEFAULTS)
    app.config.update(from_environment(os.environ))
    if overrides:
        app.config.update(overrides)
    if not app.config.get("DATABASE_URL"):
        app.config["DATABASE_URL"] = "sqlite:///" + os.path.join(
            app.instance_path, "lendmatch.sqlite"
        )
    app.config["DATABASE_URL"] = normalise_database_url(app.config["DATABASE_URL"])
    check(app.config)
