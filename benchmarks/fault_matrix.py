"""Run the whole fault matrix (tests/functional/faults/matrix.py) and print a line
per cell and the totals: cells run / stuck / leaked / lost.

    .venv/bin/python benchmarks/fault_matrix.py [--flow create] [--target mariadbd] [--limit N]
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.functional.controlplane.conftest import destroy_everything  # noqa: E402
from tests.functional.faults import matrix  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--flow", action="append", help="only these flows")
    p.add_argument("--target", action="append", help="only these processes")
    p.add_argument("--limit", type=int, default=0, help="at most N cells")
    args = p.parse_args()
    cells = [c for c in matrix.all_cells()
             if (not args.flow or c[0] in args.flow) and (not args.target or c[2] in args.target)]
    if args.limit:
        cells = cells[:args.limit]
    base = tempfile.mkdtemp(prefix="trove-lite-faults-")
    plane = matrix.start_plane(base)
    m = matrix.Matrix(plane)
    results = []
    t0 = time.monotonic()
    try:
        for cell in cells:
            res = m.run(*cell)
            results.append(res)
            print(res.line(), flush=True)
    finally:
        destroy_everything(plane)
        if m.drivers.compute._launcher is not None:
            m.drivers.compute._launcher.stop()
        shutil.rmtree(base, ignore_errors=True)
    print(matrix.table(results).splitlines()[-1] + " in %.0f s" % (time.monotonic() - t0))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
