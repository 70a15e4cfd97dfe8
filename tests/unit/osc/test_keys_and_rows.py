from trove_lite.osc import inspector as insp
from trove_lite.osc.applier import PendingRange, RowMapper, plan_dml, value_converter
from trove_lite.osc.parser import parse_alter
from trove_lite.osc.streamer import DELETE, INSERT, UPDATE

UK = insp.UniqueKey
NO_RENAMES = parse_alter("engine=innodb")


def test_primary_preferred_then_non_nullable_then_integer():
    keys = [UK("u_name", ("name",), has_text=True, all_integer=False),
            UK("u_null", ("x",), nullable=True), UK("PRIMARY", ("id",)), UK("u_int", ("n",))]
    key, err = insp.choose_shared_key(keys, keys, NO_RENAMES)
    assert key.name == "PRIMARY" and err is None
    key, _ = insp.choose_shared_key(keys[:2] + keys[3:], keys, NO_RENAMES)
    assert key.name == "u_int"


def test_key_must_exist_after_alter_with_renames_applied():
    orig = [UK("PRIMARY", ("id",))]
    renamed = parse_alter("change id id2 int")
    assert insp.choose_shared_key(orig, [UK("PRIMARY", ("id2",))], renamed)[0].name == "PRIMARY"
    key, err = insp.choose_shared_key(orig, [UK("PRIMARY", ("id", "x"))], NO_RENAMES)
    assert key is None and err.startswith("no shared unique key can be found after ALTER")


def test_no_key_and_float_key_refusals():
    assert insp.choose_shared_key([], [], NO_RENAMES)[1].startswith(
        "no PRIMARY nor UNIQUE key found in table")
    f = [UK("u", ("f",), refused_type=True)]
    assert insp.choose_shared_key(f, f, NO_RENAMES)[0] is None


def test_a_key_is_shared_under_another_name_order_or_letter_case():
    orig = [UK("u_ab", ("a", "B"))]
    for ghost in ([UK("PRIMARY", ("b", "a"))], [UK("other", ("A", "b"))]):
        assert insp.choose_shared_key(orig, ghost, NO_RENAMES)[0].name == "u_ab"


def test_a_table_left_without_any_unique_key_is_refused_as_gh_ost_words_it():
    key, err = insp.choose_shared_key([UK("PRIMARY", ("id",))], [], NO_RENAMES)
    assert key is None and err == "no PRIMARY nor UNIQUE key found in table! Bailing out"


def test_a_key_on_a_dropped_and_re_added_column_is_not_shared():
    keys = [UK("PRIMARY", ("id",)), UK("u", ("c",))]
    plan = parse_alter("drop column c, add column c int not null default 4")
    assert insp.choose_shared_key(keys[1:], keys[1:], plan)[0] is None
    assert insp.choose_shared_key(keys, keys, plan)[0].name == "PRIMARY"


def test_nullable_key_needs_flag():
    k = [UK("u", ("x",), nullable=True)]
    assert insp.choose_shared_key(k, k, NO_RENAMES)[0] is None
    assert insp.choose_shared_key(k, k, NO_RENAMES, allow_nullable=True)[0].name == "u"


def _cols():
    C = insp.Column
    return [C("id", "int", "int(11)", False), C("b", "bit", "bit(3)", True),
            C("s", "set", "set('a','b')", True), C("d", "datetime", "datetime", False),
            C("g", "int", "int(11)", True, generated=True), C("old", "int", "int(11)", True)]


def test_shared_columns_skip_generated_and_map_renames():
    ghost = [c for c in _cols() if c.name != "old"] + [insp.Column("new", "int", "int", True)]
    src, dst = insp.shared_columns(_cols(), ghost, parse_alter("change old new int"))
    assert src == ["id", "b", "s", "d", "old"] and dst == ["id", "b", "s", "d", "new"]


def test_column_identity_ignores_letter_case_and_re_added_columns_are_new():
    C = insp.Column
    orig = [C("id", "int", "int", False), C("name", "varchar", "varchar(9)", False),
            C("Val", "int", "int", False), C("c", "int", "int", True)]
    ghost = [C("id", "int", "int", False), C("NAME", "varchar", "varchar(9)", False),
             C("VAL2", "int", "int", False), C("C", "int", "int", False)]
    plan = parse_alter("modify NAME varchar(9) not null, change val VAL2 int not null, "
                       "drop column c, add column C int not null default 5")
    assert insp.shared_columns(orig, ghost, plan) == (["id", "name", "Val"],
                                                      ["id", "NAME", "VAL2"])


def test_binary_values_get_back_the_zero_bytes_the_binlog_drops():
    C = insp.Column
    src, ghost = C("b", "binary", "binary(4)", True), C("b", "varbinary", "varbinary(8)", True)
    convert = value_converter(src, False, ghost)
    assert convert(b"a") == b"a\0\0\0" and convert("") == b"\0\0\0\0"
    assert convert(None) is None and convert(b"abcd") == b"abcd"
    to_wider = value_converter(ghost, False, C("b", "binary", "binary(6)", False))
    assert to_wider(b"ab") == b"ab\0\0\0\0"


def test_enum_and_set_keys_are_compared_by_the_ghost_s_stored_numbers():
    C = insp.Column
    orig = [C("e", "enum", "enum('red','green')", False),
            C("s", "set", "set('d','c','b','a')", False)]
    ghost = [C("e", "enum", "enum('green','red')", False),
             C("s", "set", "set('a','b','c','d')", False)]
    mapper = RowMapper(orig, ["e", "s"], ["e", "s"], ["e", "s"], False, ghost)
    assert mapper.key({"e": "red", "s": {"a", "d"}}) == [2, 0b1001]
    assert mapper.row({"e": "red", "s": {"d", "a"}}) == ["red", "a,d"]


def test_binlog_values_round_trip():
    cols = {c.name: c for c in _cols()}
    assert value_converter(cols["b"], False)("101") == 5
    assert value_converter(cols["s"], False)({"b", "a"}) == "a,b"
    # a zero DATETIME arrives as None; the NOT NULL column gets the zero date back
    assert value_converter(cols["d"], True)(None) == "0000-00-00 00:00:00"
    assert value_converter(cols["id"], False)(None) is None


def test_dml_plan_binlog_wins_and_key_moves_delete_first():
    m = RowMapper(_cols(), ["id", "old"], ["id", "new"], ("id",), False)
    ops = plan_dml([(INSERT, None, {"id": 1, "old": 5}),
                    (UPDATE, {"id": 1, "old": 5}, {"id": 1, "old": 6}),
                    (UPDATE, {"id": 1, "old": 6}, {"id": 2, "old": 6}),
                    (DELETE, {"id": 2, "old": 6}, None)], m)
    assert ops == [("replace", [1, 5]), ("replace", [1, 6]), ("delete", [1]),
                   ("replace", [2, 6]), ("delete", [2])]


def test_changes_to_rows_the_copy_has_not_reached_wait_for_the_copy():
    """Copied so far: keys up to 10; the copy will still read 11..100 as they are."""
    m = RowMapper(_cols(), ["id", "old"], ["id", "new"], ("id",), False)
    pending = PendingRange([10], False, [100])
    ops = plan_dml([(UPDATE, {"id": 5, "old": 1}, {"id": 5, "old": 2}),      # copied: apply
                    (UPDATE, {"id": 50, "old": 1}, {"id": 50, "old": 2}),    # not yet: skip
                    (DELETE, {"id": 60, "old": 1}, None),                    # not yet: skip
                    (UPDATE, {"id": 7, "old": 1}, {"id": 70, "old": 1}),     # moves ahead
                    (UPDATE, {"id": 80, "old": 1}, {"id": 8, "old": 1}),     # moves behind
                    (INSERT, None, {"id": 10, "old": 3}),                    # the boundary
                    (INSERT, None, {"id": 101, "old": 3})], m, pending)      # past the range
    assert ops == [("replace", [5, 2]), ("delete", [7]), ("replace", [8, 1]),
                   ("replace", [10, 3]), ("replace", [101, 3])]
    # the first chunk includes its lower bound
    assert PendingRange([1], True, [100]).holds([1])
    assert not PendingRange([1], False, [100]).holds([1])


class _Packet:
    def __init__(self, value, size):
        self.value, self.size = value, size

    def read_uint24(self):
        return self.value

    def read_int_be_by_size(self, n):
        return self.value if n == self.size else 0


class _Event:
    def __init__(self, packet):
        self.packet = packet

    def _RowsEvent__read_fsp(self, column):
        return 0


def test_zero_and_partial_dates_decode_to_their_text():
    from trove_lite.osc import streamer
    assert streamer._read_date(_Event(_Packet(0, 3))) == "0000-00-00"
    assert streamer._read_date(_Event(_Packet((2020 << 9) | 15, 3))) == "2020-00-15"
    assert str(streamer._read_date(_Event(_Packet((2021 << 9) | (2 << 5) | 3, 3)))) == \
        "2021-02-03"
    # DATETIME2 packs year*13+month in 17 bits after the sign bit
    packed = (1 << 39) | ((2020 * 13 + 0) << 22) | (0 << 17)
    assert streamer._read_datetime2(_Event(_Packet(packed, 5)), None) == "2020-00-00 00:00:00"


def test_zero_timestamp_round_trips():
    import datetime
    c = insp.Column("ts", "timestamp", "timestamp", False)
    assert value_converter(c, True)(datetime.datetime(1970, 1, 1)) == "0000-00-00 00:00:00"


def test_installed_binlog_library_is_the_one_whose_decoders_are_fixed():
    """setup.cfg pins mysql-replication because osc/streamer.py replaces three of its
    private decoders; a different version would decode dates wrongly, so the engine
    refuses it, and the pinned one still has those methods with the same arguments."""
    import importlib.metadata
    import inspect

    from pymysqlreplication.row_event import RowsEvent

    from trove_lite.osc import streamer
    assert importlib.metadata.version("mysql-replication") == \
        streamer.PINNED_LIBRARY_VERSION
    for name, ours in (("__read_date", streamer._read_date),
                       ("__read_datetime2", streamer._read_datetime2),
                       ("__read_time2", streamer._read_time2)):
        theirs = getattr(RowsEvent, "_RowsEvent" + name)
        assert list(inspect.signature(theirs).parameters) == \
            list(inspect.signature(ours).parameters), name
