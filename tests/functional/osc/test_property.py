"""A bounded, seeded slice of the property test (property_osc.py runs more): random
tables x random ALTERs x random concurrent writes, each migrated table compared byte
for byte with the server's own offline conversion of the old table."""

import pytest

from tests.functional.osc import property_osc, support

pytestmark = pytest.mark.slow

# seeds 1000 and 1002 failed before the fixes of their commit (a column named in
# other letter case lost its values; a BINARY key made VARBINARY kept deleted rows)
SEEDS = range(1000, 1004)


def test_random_tables_alters_and_writes_migrate_exactly(mariadb_factory, tmp_path):
    kw = support.prepare(mariadb_factory(area=201))
    problems = [p for p in (property_osc.run_case(kw, seed, str(tmp_path)) for seed in SEEDS)
                if p]
    assert not problems, "\n\n".join(problems)
