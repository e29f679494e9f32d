"""Cold start: how long each service's entry module takes to import in a fresh interpreter (median of 5)."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

from common import ROOT

PROBE = "import time; t = time.perf_counter(); import functions.{s}.main; print(time.perf_counter() - t)"


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from shared_lib import registry

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    results = {}
    for svc in registry.service_names():
        runs = [float(subprocess.run([sys.executable, "-c", PROBE.format(s=svc)], cwd=ROOT, env=env, check=True,
                                     capture_output=True, text=True).stdout) for _ in range(5)]
        results[svc] = round(statistics.median(runs), 3)
    print(json.dumps({"import_seconds_median_of_5": results, "budget_seconds": 0.5}, indent=2))


if __name__ == "__main__":
    main()
