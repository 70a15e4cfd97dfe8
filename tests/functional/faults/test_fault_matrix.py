"""The fault matrix (see matrix.py). CI runs a slice of cells chosen by date
(``TROVE_LITE_MATRIX_CELLS``, default 3); ``-m fault_matrix`` or
``benchmarks/fault_matrix.py`` runs every cell."""

import os
import shutil
import tempfile

import pytest

from tests.functional.controlplane.conftest import destroy_everything
from tests.functional.faults import matrix
from trove_lite.common import steps

SLICE = int(os.environ.get("TROVE_LITE_MATRIX_CELLS", "2"))


@pytest.fixture(scope="module")
def cells_matrix():
    base = tempfile.mkdtemp(prefix="trove-lite-faults-")
    plane = matrix.start_plane(base)
    m = matrix.Matrix(plane)
    try:
        yield m
    finally:
        destroy_everything(plane)
        m.drivers.compute._launcher and m.drivers.compute._launcher.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_every_flow_step_is_a_row_and_every_process_a_column():
    cells = matrix.all_cells()
    assert len(cells) == sum(len(k) for k in steps.FLOW_STEPS.values()) * len(matrix.TARGETS)
    assert {"create", "delete", "restart", "resize", "backup", "restore", "resize_volume",
            "upgrade", "promote", "eject", "schema_migration"} <= set(steps.FLOW_STEPS)
    # the guest logs the schema migration's steps: the cell watches its guest.log
    assert steps.GUEST_FLOWS <= set(steps.FLOW_STEPS)
    # a new step is a new row with no edit of the test
    steps.FLOW_STEPS["create"] += ("new_step",)
    try:
        assert ("create", "new_step", "mariadbd") in matrix.all_cells()
    finally:
        steps.FLOW_STEPS["create"] = steps.FLOW_STEPS["create"][:-1]
    with pytest.raises(KeyError):
        steps.mark("create", "undeclared_step", "i")


def test_the_ci_slice_rotates_by_date_and_covers_the_matrix():
    import datetime
    day = datetime.date(2026, 12, 6)
    assert matrix.sampled_cells(3, day) == matrix.sampled_cells(3, day)
    covered = set()
    for d in range(len(matrix.all_cells())):
        covered.update(matrix.sampled_cells(3, day + datetime.timedelta(days=d)))
    assert covered == set(matrix.all_cells())


def _run(m, cell):
    res = m.run(*cell)
    print(res.line())
    assert res.reached, res.line()
    assert not res.stuck, res.line()
    assert not res.lost, res.line()
    assert not res.leaked, res.line()


@pytest.mark.slow
@pytest.mark.parametrize("cell", matrix.sampled_cells(SLICE), ids="-".join)
def test_fault_matrix_slice(cells_matrix, cell):
    _run(cells_matrix, cell)


@pytest.mark.fault_matrix
@pytest.mark.parametrize("cell", matrix.all_cells(), ids="-".join)
def test_fault_matrix_full(request, cell):
    if "fault_matrix" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("the full matrix runs with -m fault_matrix (or benchmarks/fault_matrix.py)")
    _run(request.getfixturevalue("cells_matrix"), cell)
