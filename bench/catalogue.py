"""Catalogue API cost against a bare Flask endpoint, measured side by side in one run.

    python bench/catalogue.py [--requests 2000] [--database-url URL]

Seeds the demo catalogue into a temporary SQLite database (or the empty database you name),
then times, in-process through Flask's test client, an authenticated product read, a page
of 100 products, a filtered list, and a bare endpoint that returns ``{}``. Prints a table
and ends with one JSON line holding the figures and the ratios to the bare endpoint.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app  # noqa: E402
from core import keys  # noqa: E402
from core.db import get_session  # noqa: E402
from core.principal import Role, command_line  # noqa: E402


def timed(client, path, headers, requests) -> dict:
    samples = []
    for _ in range(requests):
        start = time.perf_counter()
        response = client.get(path, headers=headers)
        samples.append(time.perf_counter() - start)
        assert response.status_code == 200, (path, response.status_code)
    samples.sort()
    return {"p50_ms": 1000 * statistics.median(samples),
            "p99_ms": 1000 * samples[int(0.99 * (len(samples) - 1))],
            "per_second": len(samples) / sum(samples)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--database-url")
    args = parser.parse_args()

    scratch = tempfile.mkdtemp(prefix="lendmatch-bench-")
    url = args.database_url or f"sqlite:///{scratch}/bench.sqlite"
    app = create_app({"DATABASE_URL": url})
    app.add_url_rule("/bare", "bare", lambda: {})
    runner = app.test_cli_runner()
    for command in (["db", "upgrade"], ["seed-demo", "--no-keys"]):
        result = runner.invoke(args=command)
        if result.exit_code:
            sys.exit(result.output)
    with app.app_context():
        _, key = keys.create(get_session(), command_line("bench"), Role.OPS)
    headers = {"Authorization": f"Bearer {key}"}
    client = app.test_client()

    cases = {
        "bare endpoint": ("/bare", {}),
        "product by id": ("/v1/products/42", headers),
        "products, page of 100": ("/v1/products?page_size=100", headers),
        "products, filtered": ("/v1/products?type=cash_loan&status=active&page_size=20",
                               headers),
    }
    print(f"{args.requests} requests each, in-process, {url.split(':')[0]}")
    results = {}
    for name, (path, case_headers) in cases.items():
        timed(client, path, case_headers, max(20, args.requests // 20))  # warm-up
        results[name] = timed(client, path, case_headers, args.requests)
    bare = results["bare endpoint"]["p50_ms"]
    print(f"{'case':<26}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}{'× bare':>9}")
    for name, figures in results.items():
        print(f"{name:<26}{figures['p50_ms']:>9.3f}{figures['p99_ms']:>9.3f}"
              f"{figures['per_second']:>9.0f}{figures['p50_ms'] / bare:>9.1f}")
    print(json.dumps({
        "requests": args.requests,
        **{f"{name.replace(', ', '_').replace(' ', '_')}_p50_ms": round(f["p50_ms"], 3)
           for name, f in results.items()},
        **{f"{name.replace(', ', '_').replace(' ', '_')}_vs_bare": round(f["p50_ms"] / bare, 2)
           for name, f in results.items() if name != "bare endpoint"},
    }))


if __name__ == "__main__":
    main()
