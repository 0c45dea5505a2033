"""Every msgid the workbench uses: the ``_("...")`` in its templates, the ``t("...")`` in its code,
and the label tables (``workbench.text``); the domain's values are named by ``i18n.words``."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from workbench import routes, text

PACKAGE = Path(routes.__file__).parent
TEMPLATE_CALL = re.compile(r"""_\(\s*"((?:[^"\\]|\\.)*)"\s*[,)]""")


def from_templates() -> set[str]:
    found: set[str] = set()
    for path in (PACKAGE / "templates").glob("*.html"):
        found.update(TEMPLATE_CALL.findall(path.read_text(encoding="utf-8")))
    return found


def from_code() -> set[str]:
    """String literals passed as the first argument to ``t(...)`` / ``self(...)`` in the package."""
    found: set[str] = set()
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "t"
                    or isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "self") \
                    and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                found.add(node.args[0].value)
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "self"):
                pass
    return found


def from_tables() -> set[str]:
    tables = [text.ACTION_LABELS, text.EVENTS, text.FIELDS, text.EXPIRY, text.DETAIL_KEYS, routes.VIEW_LABELS]
    found = {label for table in tables for label in table.values()}
    found.update(text.VALIDATION, text.EXPIRY_WITH_AMOUNT, text.FORM_MESSAGES, {text.PARCEL_EVENT})
    return found


def all_msgids() -> set[str]:
    return from_templates() | from_code() | from_tables()
