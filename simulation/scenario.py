"""Put a ``World`` into a lendmatch database through the real services, and set the
capped institutions' daily caps from a pilot run, so that caps bind at about half of the
demand the engine would send them."""

from dataclasses import dataclass

import numpy as np

from core.db import new_session
from core.principal import Principal, Role, command_line
from lenders import service as lenders
from lenders.schemas import InstitutionIn, InstitutionPatch
from matching.catalogue import compile_catalogue
from products import service as products
from products.schemas import ProductIn
from simulation.world import SECONDS_PER_DAY, Truth, World

OPS = Principal(key_id=None, role=Role.OPS, label="sim:ops")
CAPPED_SHARE = 0.4      # of institutions, the most demanded ones
CAP_FRACTION = 0.5      # of the demand the pilot sent them on a day


@dataclass
class Installed:
    institution_ids: list[int]   # by institution spec index
    product_ids: list[int]       # by product spec index


def install(app, world: World) -> Installed:
    who = command_line("simulation")
    with app.app_context():
        session = new_session()
        institution_ids = []
        for i in range(len(world.institutions)):
            institution = lenders.create(session, who, InstitutionIn().load(
                world.institution_body(i)))
            institution_ids.append(institution.id)
        product_ids = []
        for j, spec in enumerate(world.products):
            product = products.create(session, who, ProductIn().load(world.product_body(
                j, institution_ids[spec.institution])), apr_cap=app.config["APR_CAP"])
            product_ids.append(product.id)
        session.close()
    return Installed(institution_ids, product_ids)


def set_caps(app, installed: Installed, caps: dict[int, int]) -> None:
    """Daily application caps by institution spec index, through the ops API's service."""
    with app.app_context():
        session = new_session()
        for i, cap in sorted(caps.items()):
            lenders.update(session, OPS, installed.institution_ids[i], InstitutionPatch(
                partial=True).load({"daily_application_cap": cap,
                                    "reason": "simulation: cap at half of pilot demand"}),
                           expected_version=None)
        session.close()


def truth(app, world: World, installed: Installed) -> Truth:
    with app.app_context():
        session = new_session()
        catalogue = compile_catalogue(session)
        session.close()
    return world.align(catalogue, installed.product_ids)


def pilot_caps(world: World, truth_: Truth, settings) -> dict[int, int]:
    """Run the engine without learning, uncapped, over the first day's arrivals; cap the
    ``CAPPED_SHARE`` most-routed institutions at ``CAP_FRACTION`` of what they got."""
    from simulation.arena import Market
    from simulation.policies import Engine

    first_day = int(np.searchsorted(world.borrowers.arrival, SECONDS_PER_DAY))
    market = Market(truth_, settings, Engine(learning=False, seed=world.seed, prices=False),
                    limit=max(first_day, 1))
    result = market.run()
    routed = (np.concatenate(result.routing_position) if result.routing_position
              else np.zeros(0, dtype=np.int64))
    per_institution = np.bincount(truth_.institution_of[routed],
                                  minlength=len(world.institutions))
    ranked = np.argsort(-per_institution, kind="stable")
    capped = ranked[:int(round(CAPPED_SHARE * len(world.institutions)))]
    return {int(i): max(1, int(per_institution[i] * CAP_FRACTION)) for i in capped
            if per_institution[i] > 0}


def prepare(app, world: World, settings) -> tuple[World, Truth, Installed]:
    """Install the world, find its caps by a pilot, set them; returns the capped world
    and its truth aligned with the compiled (capped) catalogue."""
    installed = install(app, world)
    caps = pilot_caps(world, truth(app, world, installed), settings)
    set_caps(app, installed, caps)
    capped = world.with_caps(caps)
    return capped, truth(app, capped, installed), installed
