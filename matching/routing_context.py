"""What the routing service needs besides the database, built once per app."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from core.db import utcnow
from matching.capacity import UsageView
from matching.catalogue import CatalogueCache
from matching.prior import RulesDepthPrior
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
    model: object = field(default_factory=RulesDepthPrior)
    clock: object = utcnow

    @classmethod
    def from_config(cls, config) -> "RoutingContext":
        return cls(cache=CatalogueCache(), settings=ScoringSettings.from_config(config),
                   k=config["PRODUCTS_PER_APPLICATION"],
                   k_per_channel=dict(config["PRODUCTS_PER_CHANNEL"]),
                   cooldown=timedelta(seconds=config["COOLDOWN_SECONDS"]),
                   cap_timezone=ZoneInfo(config["CAP_TIMEZONE"]),
                   max_waves=config["MAX_WAVES"],
                   usage=UsageView(config["USAGE_REFRESH_SECONDS"]))

    def products_for(self, channel: str) -> int:
        return self.k_per_channel.get(channel, self.k)

    def capacity_day(self, now: datetime):
        """Caps are per local day in the cap timezone."""
        return now.astimezone(self.cap_timezone).date()
