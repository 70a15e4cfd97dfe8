"""ALTER statement parsing: what the ALTER does to columns and to the table name.

Pure functions over the ``--alter`` text. Only what the migration needs is
recognised: column renames (``change a b ...``, ``rename column a to b``),
dropped columns, added columns, a table RENAME, an explicit table name (when
``--alter`` is a whole ``alter table t ...`` statement) and engine changes.
"""

from __future__ import annotations

import dataclasses
import re

from trove_lite.exceptions import TroveLiteError

_ALTER_TABLE_RE = re.compile(
    r"^\s*alter\s+(?:online\s+|ignore\s+)*table\s+((?:`[^`]+`|[\w$]+)(?:\s*\.\s*(?:`[^`]+`|[\w$]+))?)\s*(.*)$",
    re.I | re.S)
_IDENT = r"(`(?:[^`]|``)+`|[\w$]+)"
_CHANGE_RE = re.compile(r"^change\s+(?:column\s+)?" + _IDENT + r"\s+" + _IDENT, re.I | re.S)
_RENAME_COL_RE = re.compile(r"^rename\s+column\s+" + _IDENT + r"\s+to\s+" + _IDENT, re.I | re.S)
_RENAME_TABLE_RE = re.compile(r"^rename(\s+(to|as)\b|\s+(?!column\b|index\b|key\b)[\w`$])",
                              re.I | re.S)
_DROP_RE = re.compile(r"^drop\s+(?:column\s+)?(?:if\s+exists\s+)?" + _IDENT + r"(\s|$)",
                      re.I | re.S)
_DROP_NON_COLUMN = {"index", "key", "primary", "foreign", "constraint", "check", "partition",
                    "unique", "fulltext", "spatial", "period", "system"}
_ADD_RE = re.compile(r"^add\s+(?:column\s+)?(?:if\s+not\s+exists\s+)?" + _IDENT + r"\s",
                     re.I | re.S)
_ADD_NON_COLUMN = {"index", "key", "primary", "foreign", "constraint", "unique", "fulltext",
                   "spatial", "check", "partition", "period", "system"}
_ENGINE_RE = re.compile(r"^engine\s*=?\s*" + _IDENT, re.I)


class AlterParseError(TroveLiteError, ValueError):
    """An ALTER the engine cannot map rows through."""

    code = "osc_bad_alter"


@dataclasses.dataclass
class AlterPlan:
    """What an ALTER does, as far as row mapping is concerned."""

    alter: str                       # the clauses to apply to the ghost table
    explicit_schema: str | None = None
    explicit_table: str | None = None
    renamed_columns: dict = dataclasses.field(default_factory=dict)  # old -> new
    dropped_columns: set = dataclasses.field(default_factory=set)
    added_columns: set = dataclasses.field(default_factory=set)
    renames_table: bool = False
    engine: str | None = None

    def mapped_name(self, column: str) -> str:
        """The column's name after the ALTER; column names are case-insensitive."""
        for old, new in self.renamed_columns.items():
            if old.lower() == column.lower():
                return new
        return column

    def readds(self, column: str) -> bool:
        """True when the ALTER drops the column and adds one of the same name: a new
        column (its own default applies), not a shared one."""
        name = column.lower()
        return (name in {c.lower() for c in self.dropped_columns}
                and name in {c.lower() for c in self.added_columns})


def unquote(ident: str) -> str:
    ident = ident.strip()
    if ident.startswith("`") and ident.endswith("`"):
        return ident[1:-1].replace("``", "`")
    return ident


def split_clauses(text: str) -> list[str]:
    """Split on top-level commas, ignoring commas inside quotes, backticks, parentheses."""
    clauses, depth, quote, buf = [], 0, None, []
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            buf.append(ch)
            if ch == "\\" and quote != "`" and i + 1 < len(text):
                buf.append(text[i + 1])
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"`":
            quote = ch
            buf.append(ch)
        elif ch == "(":
            depth += 1
            buf.append(ch)
        elif ch == ")":
            depth -= 1
            buf.append(ch)
        elif ch == "," and depth == 0:
            clauses.append("".join(buf).strip())
            buf = []
        else:
            buf.append(ch)
        i += 1
    if quote or depth:
        raise AlterParseError("unbalanced quotes or parentheses in ALTER: %s" % text)
    last = "".join(buf).strip()
    if last:
        clauses.append(last)
    return clauses


def parse_alter(alter: str) -> AlterPlan:
    """Parse ``--alter`` (clauses, or a whole ``alter table`` statement) into an AlterPlan."""
    text = alter.strip().rstrip(";").strip()
    plan = AlterPlan(alter=text)
    m = _ALTER_TABLE_RE.match(text)
    if m:
        parts = [unquote(p) for p in re.split(r"\s*\.\s*(?=(?:[^`]*`[^`]*`)*[^`]*$)", m.group(1))]
        if len(parts) == 2:
            plan.explicit_schema, plan.explicit_table = parts
        else:
            plan.explicit_table = parts[0]
        text = m.group(2).strip()
        plan.alter = text
    for clause in split_clauses(text):
        _parse_clause(clause, plan)
    return plan


def _parse_clause(clause: str, plan: AlterPlan) -> None:
    m = _CHANGE_RE.match(clause)
    if m:
        old, new = unquote(m.group(1)), unquote(m.group(2))
        if old != new:
            plan.renamed_columns[old] = new
        return
    m = _RENAME_COL_RE.match(clause)
    if m:
        plan.renamed_columns[unquote(m.group(1))] = unquote(m.group(2))
        return
    if _RENAME_TABLE_RE.match(clause) and not re.match(r"^rename\s+(index|key)\b", clause, re.I):
        plan.renames_table = True
        return
    m = _DROP_RE.match(clause)
    if m and m.group(1).lower() not in _DROP_NON_COLUMN:
        plan.dropped_columns.add(unquote(m.group(1)))
        return
    m = _ADD_RE.match(clause)
    if m and m.group(1).lower() not in _ADD_NON_COLUMN and not clause[3:].lstrip().startswith("("):
        plan.added_columns.add(unquote(m.group(1)))
        return
    m = _ENGINE_RE.match(clause)
    if m:
        plan.engine = unquote(m.group(1))
