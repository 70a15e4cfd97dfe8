from trove_lite.osc import inspector
from trove_lite.osc.parser import parse_alter, split_clauses


def test_renames_drops_and_adds():
    p = parse_alter("change column a b int, change c c bigint, rename column x to `y z`, "
                    "drop column d, drop e, add column f int, add g int, add index (f), "
                    "drop key k, drop primary key, add unique key u (g)")
    assert p.renamed_columns == {"a": "b", "x": "y z"}
    assert p.dropped_columns == {"d", "e"}
    assert p.added_columns == {"f", "g"}
    assert not p.renames_table


def test_commas_inside_quotes_and_parentheses_do_not_split():
    assert split_clauses("add column e enum('a,b','c') default 'a,b', add key k (x, y)") == [
        "add column e enum('a,b','c') default 'a,b'", "add key k (x, y)"]


def test_whole_statement_names_the_table():
    p = parse_alter("ALTER TABLE `db`.`tbl` ENGINE=InnoDB;")
    assert (p.explicit_schema, p.explicit_table, p.alter) == ("db", "tbl", "ENGINE=InnoDB")
    assert p.engine == "InnoDB"


def test_table_rename_is_refused_with_gh_ost_text():
    for alter in ("rename to t2", "add column x int, rename as t2", "RENAME t2"):
        plan = parse_alter(alter)
        assert plan.renames_table, alter
        assert inspector.check_alter_plan(plan, False, False).startswith(
            "alter statement seems to RENAME the table")
    assert not parse_alter("rename index a to b").renames_table
    assert not parse_alter("rename column a to b").renames_table


def test_column_rename_needs_approval():
    plan = parse_alter("change i j int")
    msg = inspector.check_alter_plan(plan, False, False)
    assert "--approve-renamed-columns" in msg and "map[i:j]" in msg
    assert inspector.check_alter_plan(plan, True, False) is None
