from trove_lite.osc import sql


def test_quote_doubles_backticks():
    assert sql.quote("a`b") == "`a``b`"
    assert sql.qualified("d", "t") == "`d`.`t`"


def test_helper_table_names():
    assert (sql.ghost_name("t"), sql.changelog_name("t"), sql.old_name("t"),
            sql.checkpoint_name("t")) == ("_t_gho", "_t_ghc", "_t_del", "_t_ghk")


def test_multi_column_range_is_lexicographic():
    cond, args = sql._cmp(("a", "b"), (1, 2), ">")
    assert cond == "((`a` > %s) or (`a` = %s and `b` > %s))"
    assert args == [1, 1, 2]
    cond, args = sql._cmp(("a", "b"), (5, 6), "<=")
    assert cond == "((`a` < %s) or (`a` = %s and `b` <= %s))"


def test_copy_chunk_uses_insert_ignore_force_index_and_share_lock():
    s, args = sql.copy_chunk("d", "t", "_t_gho", "PRIMARY", ("id",), ["id", "a"], ["id", "b"],
                             [1], [1000], True)
    assert s == ("insert /* gh-ost */ ignore into `d`.`_t_gho` (`id`, `b`) (select `id`, `a` "
                 "from `d`.`t` force index (`PRIMARY`) where ((`id` >= %s)) and "
                 "((`id` <= %s)) lock in share mode)")
    assert args == [1, 1000]


def test_chunk_end_offset():
    s, args = sql.chunk_end("d", "t", "PRIMARY", ("id",), [10], [99], 100, False)
    assert s.endswith("order by `id` limit 1 offset 99") and "(`id` > %s)" in s
    assert args == [10, 99]


def test_dml_builders():
    s, args = sql.replace_rows("d", "g", ["id", "v"], [[1, "a"], [2, "b"]])
    assert s == "replace /* gh-ost */ into `d`.`g` (`id`, `v`) values (%s, %s), (%s, %s)"
    assert args == [1, "a", 2, "b"]
    s, args = sql.delete_row("d", "g", ["a", "b"], [1, None])
    assert s == "delete /* gh-ost */ from `d`.`g` where `a` <=> %s and `b` <=> %s"


def test_changelog_schema_matches_gh_ost():
    ddl = sql.create_changelog("d", "_t_ghc")
    for part in ("id bigint unsigned auto_increment", "hint varchar(64) charset ascii not null",
                 "value varchar(4096) charset ascii not null", "unique key hint_uidx(hint)",
                 "ON UPDATE CURRENT_TIMESTAMP"):
        assert part in ddl


def test_cut_over_statements():
    assert sql.rename_atomic("d", "t", "_t_del", "_t_gho") == (
        "rename /* gh-ost */ table `d`.`t` to `d`.`_t_del`, `d`.`_t_gho` to `d`.`t`")
    assert "comment='ghost-cut-over-sentry'" in sql.create_sentry("d", "_t_del")
    assert sql.lock_tables_write("d", "t", "_t_del") == (
        "lock /* gh-ost */ tables `d`.`t` write, `d`.`_t_del` write")


def test_time_zone_conversion_only_when_alter_changes_temporal_type():
    assert sql.time_zone_placeholder("timestamp", "timestamp") == "%s"
    assert sql.time_zone_placeholder("datetime", "datetime") == "%s"
    assert sql.time_zone_placeholder("timestamp", "datetime") == \
        "convert_tz(%s, '+00:00', @trove_osc_tz)"
    assert sql.time_zone_placeholder("datetime", "timestamp") == \
        "convert_tz(%s, @trove_osc_tz, '+00:00')"


def test_the_cut_over_probes_the_last_name_its_rename_locks_before_the_table():
    from trove_lite.osc.cutover import rename_probe_name
    assert rename_probe_name("t", "_t_del", "_t_gho") == "_t_gho"
    assert rename_probe_name("orders", "_orders_del", "_orders_gho") == "_orders_gho"
    # '_' sorts after capitals and digits: the RENAME queues on such a table first
    assert rename_probe_name("Orders", "_Orders_del", "_Orders_gho") is None
    assert rename_probe_name("9t", "_9t_del", "_9t_gho") is None


def test_the_rename_queues_early_only_when_it_waits_on_the_sentry_first():
    from trove_lite.osc.cutover import sentry_sorts_first
    assert sentry_sorts_first("t", "_t_del", "_t_gho")
    # a timestamped old table still sorts before the ghost
    assert sentry_sorts_first("t", "_t_20261206071500_del", "_t_gho")
    # the RENAME would take the table (or the ghost) before it waits on the sentry
    assert not sentry_sorts_first("Orders", "_Orders_del", "_Orders_gho")
    assert not sentry_sorts_first("t", "_t_zz", "_t_gho")
