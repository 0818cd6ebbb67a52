"""Settings read from the environment, with the embedded defaults.

| variable                             | default                              |
|--------------------------------------|--------------------------------------|
| ``DATABASE_URL``                     | SQLite file ``instance/lendmatch.sqlite`` |
| ``LENDMATCH_APR_CAP``                | ``0.24`` (the regulatory APR ceiling) |
| ``LENDMATCH_PRODUCTS_PER_APPLICATION`` | ``5`` (K, products routed per application) |
| ``LENDMATCH_CAP_TIMEZONE``           | ``Asia/Shanghai`` (when daily caps reset) |
| ``LENDMATCH_MAX_BODY_BYTES``         | ``65536`` (larger request bodies get 413) |
"""

import os
from collections.abc import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import ConfigurationError

DEFAULTS = {
    "APR_CAP": 0.24,
    "PRODUCTS_PER_APPLICATION": 5,
    "CAP_TIMEZONE": "Asia/Shanghai",
    "MAX_CONTENT_LENGTH": 64 * 1024,
}

ENVIRONMENT = {
    "DATABASE_URL": ("DATABASE_URL", str),
    "LENDMATCH_APR_CAP": ("APR_CAP", float),
    "LENDMATCH_PRODUCTS_PER_APPLICATION": ("PRODUCTS_PER_APPLICATION", int),
    "LENDMATCH_CAP_TIMEZONE": ("CAP_TIMEZONE", str),
    "LENDMATCH_MAX_BODY_BYTES": ("MAX_CONTENT_LENGTH", int),
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
            raise ConfigurationError(
                f"{variable}={raw!r} is not a valid {convert.__name__}") from None
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
