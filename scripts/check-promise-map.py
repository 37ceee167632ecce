#!/usr/bin/env python3
"""Checks docs/promise-map.md against the promise IDs and the test code.

Fails (exit 1) when the table does not list exactly the promise IDs of
shared/seed/promises.md, when a status is not kept/partial/planned, when a `kept` row
names no test, or when a named test is not a `fn <name>` in any .rs file under crates/,
migrations/ or tests/. Standard library only.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAP = ROOT / "docs" / "promise-map.md"
SOURCE_DIRS = ("crates", "migrations", "tests")

# Copied from shared/seed/promises.md, which is not part of this repository.
EXPECTED_IDS = (
    [f"D{i}" for i in range(1, 9)]
    + [f"C{i}" for i in range(1, 10)]
    + [f"U{i}" for i in range(1, 10)]
    + [f"T{i}" for i in range(1, 10)]
    + [f"S{i}" for i in range(1, 8)]
    + [f"R{i}" for i in range(1, 8)]
    + [f"L{i}" for i in range(1, 3)]
    + [f"A{i}" for i in range(1, 4)]
)
STATUSES = ("kept", "partial", "planned")
COLUMNS = ["id", "promise (short)", "status", "mechanism", "tests"]

ID_CELL = re.compile(r"^[A-Z][0-9]+$")
TEST_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z_][A-Za-z0-9_]*)*$")


def split_row(line: str) -> list[str]:
    inner = line.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") else inner
    # Escaped pipes (\|) inside a cell are not separators.
    cells = re.split(r"(?<!\\)\|", inner)
    return [cell.strip() for cell in cells]


def parse_tests(cell: str, errors: list[str], pid: str) -> list[str]:
    names: list[str] = []
    for item in (part.strip() for part in cell.split(",")):
        if not item:
            continue
        if not (item.startswith("`") and item.endswith("`") and len(item) > 2):
            errors.append(f"{pid}: test {item!r} is not a single name in backticks")
            continue
        name = item[1:-1].strip()
        if not TEST_NAME.match(name):
            errors.append(f"{pid}: {name!r} is not a Rust function name")
            continue
        # A path such as `tenant::isolation::rows_invisible` names its last segment.
        names.append(name.rsplit("::", 1)[-1])
    return names


def defined_functions() -> set[str]:
    found: set[str] = set()
    fn = re.compile(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)")
    for top in SOURCE_DIRS:
        base = ROOT / top
        if not base.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            # Skip Cargo build directories (they carry CACHEDIR.TAG), not modules named target.
            dirnames[:] = [
                d for d in dirnames if not (Path(dirpath, d, "CACHEDIR.TAG").is_file())
            ]
            for filename in filenames:
                if not filename.endswith(".rs"):
                    continue
                try:
                    text = Path(dirpath, filename).read_text(encoding="utf-8", errors="replace")
                except OSError:
                    continue
                found.update(fn.findall(text))
    return found


def main() -> int:
    if not MAP.is_file():
        print(f"promise map: {MAP.relative_to(ROOT)} is missing", file=sys.stderr)
        return 1

    errors: list[str] = []
    rows: dict[str, tuple[str, list[str]]] = {}
    header_seen = False
    for lineno, line in enumerate(MAP.read_text(encoding="utf-8").splitlines(), 1):
        if not line.lstrip().startswith("|"):
            continue
        cells = split_row(line)
        if [c.lower() for c in cells] == COLUMNS:
            header_seen = True
            continue
        if all(re.fullmatch(r":?-+:?", c) for c in cells if c):
            continue
        if not cells or not ID_CELL.match(cells[0]):
            continue
        pid = cells[0]
        where = f"docs/promise-map.md:{lineno}: {pid}"
        if len(cells) != len(COLUMNS):
            errors.append(f"{where}: expected {len(COLUMNS)} columns, found {len(cells)}")
            continue
        if pid in rows:
            errors.append(f"{where}: listed more than once")
            continue
        status = cells[2].strip("`").lower()
        if status not in STATUSES:
            errors.append(f"{where}: status {cells[2]!r} is not one of {', '.join(STATUSES)}")
        tests = parse_tests(cells[4], errors, where)
        if status == "kept" and not tests:
            errors.append(f"{where}: marked kept but names no test")
        rows[pid] = (status, tests)

    if not header_seen:
        errors.append("docs/promise-map.md: no table with columns " + " | ".join(COLUMNS))

    expected = set(EXPECTED_IDS)
    missing = [pid for pid in EXPECTED_IDS if pid not in rows]
    unknown = sorted(set(rows) - expected)
    if missing:
        errors.append("missing promise IDs: " + ", ".join(missing))
    if unknown:
        errors.append("unknown promise IDs: " + ", ".join(unknown))

    functions = defined_functions()
    for pid in EXPECTED_IDS:
        if pid not in rows:
            continue
        for name in rows[pid][1]:
            if name not in functions:
                errors.append(
                    f"{pid}: test `{name}` is not a `fn {name}` in any .rs file under "
                    + ", ".join(f"{d}/" for d in SOURCE_DIRS)
                )

    if errors:
        for error in errors:
            print(f"promise map: {error}", file=sys.stderr)
        print(f"promise map: FAILED ({len(errors)} problem(s))", file=sys.stderr)
        return 1

    counts = {s: sum(1 for st, _ in rows.values() if st == s) for s in STATUSES}
    print(
        f"promise map: {counts['kept']} kept, {counts['partial']} partial, "
        f"{counts['planned']} planned ({len(rows)} promises)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
