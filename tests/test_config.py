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
])
def test_bad_settings_stop_start_up_with_a_clear_message(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError):
        create_app()
