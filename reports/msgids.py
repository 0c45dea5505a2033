"""Every msgid the reports' code asks the ``reports`` catalog for (the tests check that zh_CN
translates each one): the literal second argument of each ``t(locale, "...")`` call in the
package, and the deciders' names in ``reports.text`` (the domain's values are ``i18n.words``')."""

from __future__ import annotations

import ast
from pathlib import Path

from reports import text

PACKAGE = Path(__file__).parent


def msgids() -> list[str]:
    found: set[str] = set()
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            # t(locale, "msgid", ...), and add("Section", ...) in rows(), which translates its section
            where = {"t": 1, "add": 0}.get(node.func.id)
            arg = node.args[where] if where is not None and len(node.args) > where else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.add(arg.value)
    found.update(text.DECIDER_NAMES.values())
    return sorted(found)
