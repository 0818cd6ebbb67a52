import pytest

from app import create_app
from core.errors import ConfigurationError


def test_defaults(monkeypatch, tmp_path):
    for variable in ("DATABASE_URL", "LENDMATCH_APR_CAP", "LENDMATCH_PRODUCTS_PER_APPLICATION",
                     "LENDMATCH_CAP_TIMEZONE"):
        monkeypatch.delenv(variable, raising=False)
    app = create_app()
    assert app.config["DATABASE_URL"] == f"sqlite:///{app.instance_path}/lendmatch.sqlite"
    assert app.config["APR_CAP"] == 0.24
    assert app.config["PRODUCTS_PER_APPLICATION"] == 5
    assert app.config["CAP_TIMEZONE"] == "Asia/Shanghai"


def test_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://lm@db.internal/lendmatch")
    monkeypatch.setenv("LENDMATCH_APR_CAP", "0.18")
    monkeypatch.setenv("LENDMATCH_PRODUCTS_PER_APPLICATION", "3")
    monkeypatch.setenv("LENDMATCH_CAP_TIMEZONE", "Asia/Urumqi")
    app = create_app()
    assert app.config["DATABASE_URL"] == "postgresql+psycopg://lm@db.internal/lendmatch"
    assert app.config["APR_CAP"] == 0.18
    assert app.config["PRODUCTS_PER_APPLICATION"] == 3
    assert app.config["CAP_TIMEZONE"] == "Asia/Urumqi"


@pytest.mark.parametrize("variable, value", [
    ("LENDMATCH_APR_CAP", "lots"), ("LENDMATCH_APR_CAP", "1.5"),
    ("LENDMATCH_PRODUCTS_PER_APPLICATION", "0"), ("LENDMATCH_CAP_TIMEZONE", "Mars/Olympus"),
    ("LENDMATCH_PRODUCTS_PER_CHANNEL", "ecommerce"),
    ("LENDMATCH_PRODUCTS_PER_CHANNEL", "tv=3"),
    ("LENDMATCH_PRODUCTS_PER_CHANNEL", "app=0"),
    ("LENDMATCH_COOLDOWN_SECONDS", "-1"), ("LENDMATCH_INQUIRY_COST", "-0.1"),
    ("LENDMATCH_PLATFORM_FEE_RATE", "inf"), ("LENDMATCH_VALUE_WEIGHT", "nan"),
    ("LENDMATCH_WEBHOOK_CONCURRENCY", "0"), ("LENDMATCH_METRICS_TOKEN", "short"),
])
def test_bad_settings_stop_start_up_with_a_clear_message(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError):
        create_app()


def test_routing_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("LENDMATCH_PRODUCTS_PER_CHANNEL", "ecommerce=3, app=4")
    monkeypatch.setenv("LENDMATCH_COOLDOWN_SECONDS", "600")
    monkeypatch.setenv("LENDMATCH_INQUIRY_COST", "0.05")
    app = create_app()
    context = app.extensions["lendmatch.routing"]
    assert context.products_for("ecommerce") == 3
    assert context.products_for("app") == 4
    assert context.products_for("travel") == 5
    assert context.cooldown.total_seconds() == 600
    assert context.settings.inquiry_cost == 0.05


def test_the_configured_channels_are_the_products_channels():
    from core.config import CHANNELS
    from products.models import Channel

    assert {c.value for c in Channel} == CHANNELS


def test_the_console_signs_its_cookie_with_the_configured_or_a_kept_secret(monkeypatch,
                                                                          tmp_path):
    import console

    monkeypatch.setenv("LENDMATCH_SECRET_KEY", "shared-by-every-host")
    monkeypatch.setenv("LENDMATCH_SECURE_COOKIES", "true")
    app = create_app()
    assert app.config["SECRET_KEY"] == "shared-by-every-host"
    assert app.config["SESSION_COOKIE_SECURE"] is True

    # Without one, the first worker on a host writes a random key that the others read.
    first = console._instance_secret(str(tmp_path))
    assert len(first) == 64 and console._instance_secret(str(tmp_path)) == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    (tmp_path / "secret_key").write_text("")
    with pytest.raises(RuntimeError, match="LENDMATCH_SECRET_KEY"):
        console._instance_secret(str(tmp_path))

    monkeypatch.setenv("LENDMATCH_SECURE_COOKIES", "maybe")
    with pytest.raises(ConfigurationError, match="LENDMATCH_SECURE_COOKIES='maybe' is not a "
                                                 "valid true/false"):
        create_app()
