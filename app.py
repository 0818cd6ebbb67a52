"""The lendmatch application factory: ``flask --app app run``."""

import importlib
import os
from collections.abc import Mapping

from flask import Flask

import console
import core
import feedback
import jobs
import learning
import lenders
import matching
import observability
import products
from core import config as settings

MODEL_MODULES = ("lenders.models", "products.models", "products.catalogue_version",
                 "core.keys", "core.rate_limits", "core.audit", "matching.models",
                 "feedback.models", "core.pseudonyms", "learning.models", "jobs.models")


def load_models():
    """Import every module that declares tables; returns the complete metadata."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
    from core.db import Base

    return Base.metadata


def create_app(config: Mapping | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    settings.load(app, config)
    os.makedirs(app.instance_path, exist_ok=True)
    load_models()
    core.init_app(app)
    observability.init_app(app)
    lenders.init_app(app)
    products.init_app(app)
    matching.init_app(app)
    feedback.init_app(app)
    learning.init_app(app)
    jobs.init_app(app)
    console.init_app(app)
    return app
