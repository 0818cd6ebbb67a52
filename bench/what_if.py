"""The ops console's what-if: how long replaying the last N applications under proposed
weights takes on the 1,000-product benchmark catalogue, as a page request and as the bare
replay, against routing one application through the service (measured side by side).

    python bench/what_if.py            # N = 500 and 2,000 (the most the page allows)
    python bench/what_if.py --quick    # N = 200
"""

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from routing import applicant_bodies, prepare  # noqa: E402

from app import create_app  # noqa: E402
from core import keys  # noqa: E402
from core.db import new_session  # noqa: E402
from core.principal import Principal, Role, command_line  # noqa: E402
from matching import replay, service  # noqa: E402
from matching.catalogue import CHANNELS  # noqa: E402
from matching.schemas import ApplicationIn  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes = [200] if args.quick else [500, replay.MAX_APPLICATIONS]
    folder = tempfile.mkdtemp()
    url = f"sqlite:///{folder}/what_if.sqlite"
    prepare(url)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "EXPLORATION_RATE": 0.0})
    context = app.extensions["lendmatch.routing"]
    schema = ApplicationIn()
    who = Principal(key_id=1, role=Role.BORROWER_APP)
    routing_times = []
    with app.app_context():
        bodies = [schema.load(b) for b in applicant_bodies(max(sizes), 5, "whatif")]
        for n, body in enumerate(bodies):
            session = new_session()
            start = time.perf_counter()
            service.apply(session, who, body, request_hash=str(n),
                          idempotency_key=f"whatif-{n}", context=context)
            routing_times.append(time.perf_counter() - start)
            session.close()
            if n and n % 500 == 0:
                print(f"  {n}/{len(bodies)} applications routed", file=sys.stderr)
        session = new_session()
        _, key = keys.create(session, command_line("bench"), Role.OPS)
        catalogue = context.cache.get(session)
        predictor, _ = context.learned.get(session)
        product_ids = catalogue.product_id[:5].tolist()
        changes = {int(p): 3.0 for p in product_ids}
        bare = {}
        for size in sizes:
            start = time.perf_counter()
            result = replay.replay(
                session, catalogue, predictor, context.settings, changes=changes,
                k_of=lambda a: context.products_for(CHANNELS[a.channel]), applications=size)
            bare[size] = time.perf_counter() - start
            assert result.applications == size
        session.close()

    client = app.test_client()
    page = client.get("/ops/sign-in").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/ops/sign-in", data={"key": key, "csrf_token": token})
    # Signing in starts a new session with a new token.
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      client.get("/ops/what-if").text).group(1)
    page_times = {}
    for size in sizes:
        form = {"csrf_token": token, "applications": str(size),
                "product_id": [str(p) for p in changes], "weight": ["3"] * len(changes)}
        start = time.perf_counter()
        response = client.post("/ops/what-if", data=form)
        page_times[size] = time.perf_counter() - start
        assert response.status_code == 200, response.text[:2000]
    app.extensions["lendmatch.engine"].dispose()

    routing_ms = 1000 * sorted(routing_times[100:])[len(routing_times[100:]) // 2]
    print(f"catalogue: {catalogue.size} products; one routing through the service: "
          f"{routing_ms:.2f} ms (median)")
    figures = {"catalogue_products": catalogue.size, "routing_median_ms": round(routing_ms, 3)}
    for size in sizes:
        per = 1000 * bare[size] / (2 * size)
        print(f"what-if over {size} applications: page {page_times[size]:.2f} s, replay "
              f"{bare[size]:.2f} s ({per:.2f} ms per engine decision, "
              f"{per / routing_ms:.2f}x one routing through the service)")
        figures |= {f"page_seconds_{size}": round(page_times[size], 3),
                    f"replay_seconds_{size}": round(bare[size], 3),
                    f"decision_vs_routing_{size}": round(per / routing_ms, 3)}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
