"""What the routing service needs besides the database, built once per app."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from core.db import utcnow
from learning.store import LearnedCache
from matching import engine
from matching.capacity import UsageView
from matching.catalogue import CatalogueCache
from matching.scoring import ScoringSettings


@dataclass
class RoutingContext:
    cache: CatalogueCache
    settings: ScoringSettings
    k: int
    k_per_channel: dict[str, int]
    cooldown: timedelta
    cap_timezone: ZoneInfo
    max_waves: int = 3
    usage: UsageView = field(default_factory=UsageView)
    learned: LearnedCache | None = None
    exploration_rate: float = 0.0
    rng: np.random.Generator = field(default_factory=np.random.default_rng)
    clock: object = utcnow
    # None: the learned models (the prior until the first update). The benchmarks put the
    # rules-only model here for the engine without learning.
    model: object | None = None

    @classmethod
    def from_config(cls, config) -> "RoutingContext":
        return cls(cache=CatalogueCache(), settings=ScoringSettings.from_config(config),
                   k=config["PRODUCTS_PER_APPLICATION"],
                   k_per_channel=dict(config["PRODUCTS_PER_CHANNEL"]),
                   cooldown=timedelta(seconds=config["COOLDOWN_SECONDS"]),
                   cap_timezone=ZoneInfo(config["CAP_TIMEZONE"]),
                   max_waves=config["MAX_WAVES"],
                   usage=UsageView(config["USAGE_REFRESH_SECONDS"]),
                   learned=LearnedCache(config["MODEL_REFRESH_SECONDS"], config["PRICE_STEP"],
                                        ZoneInfo(config["CAP_TIMEZONE"])),
                   exploration_rate=config["EXPLORATION_RATE"],
                   rng=np.random.default_rng(config["ROUTING_SEED"]))

    def route(self, session, catalogue, applicant, k: int, day, now, **exclusions):
        """One engine decision with this process's models, prices and exploration."""
        predictor, prices = self.learned.get(session)
        price_of = None
        if prices is not None:
            def price_of(positions, used_p, used_i):
                return prices.price_of(catalogue, positions, used_p, used_i, now, day)
        return engine.route(
            catalogue, applicant, k=k, settings=self.settings,
            model=self.model or predictor, exploration_rate=self.exploration_rate,
            rng=self.rng, price_of=price_of,
            usage_of=lambda p, i: self.usage.used(session, day, p, i), **exclusions)

    def products_for(self, channel: str) -> int:
        return self.k_per_channel.get(channel, self.k)

    def capacity_day(self, now: datetime):
        """Caps are per local day in the cap timezone."""
        return now.astimezone(self.cap_timezone).date()
