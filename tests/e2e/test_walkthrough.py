"""The README's walk-through, run verbatim against the dev stack so it cannot rot.

The commands are read from README.md: the stack's command after ``<!-- walkthrough:stack -->``
and every ``bash`` block between ``<!-- walkthrough:begin -->`` and ``<!-- walkthrough:end -->``.
They run as a reader runs them, from a folder that has the project's ``.venv`` and ``examples``
(linked), so ``.data/walkthrough`` is the test's own. Two things differ from a reader's terminal,
and only from outside the commands: the stack gets free ports (appended to its command line), and
``AFTERSALES_API_URL`` points the second terminal at that API.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.dev import free_ports
from tests.e2e.test_dev_stack import PROJECT_ROOT, wait_for

README = PROJECT_ROOT / "README.md"

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def bash_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```$", markdown, flags=re.DOTALL | re.MULTILINE)


def walkthrough(readme: str) -> tuple[str, str]:
    """The stack's command and the script of the reader's second terminal, as the README has them."""
    stack_part = readme.split("<!-- walkthrough:stack -->", 1)[1]
    stack_command = bash_blocks(stack_part)[0].strip()
    steps = readme.split("<!-- walkthrough:begin -->", 1)[1].split("<!-- walkthrough:end -->", 1)[0]
    return stack_command, "\n".join(bash_blocks(steps))


def test_the_readme_has_the_walkthrough_between_its_markers() -> None:
    stack_command, script = walkthrough(README.read_text(encoding="utf-8"))
    assert stack_command.startswith(".venv/bin/aftersales dev ")
    assert "examples/walkthrough-policy.toml" in stack_command
    for needed in ("examples/refund-only.json", "examples/return.json", "record-inspection", "curl "):
        assert needed in script


@pytest.fixture
def reader_folder(tmp_path: Path) -> Path:
    venv = PROJECT_ROOT / ".venv"
    assert (venv / "bin" / "aftersales").exists(), "run scripts/bootstrap.sh first: the walk-through uses .venv"
    folder = tmp_path / "clone"
    folder.mkdir()
    (folder / ".venv").symlink_to(venv)
    (folder / "examples").symlink_to(PROJECT_ROOT / "examples")
    return folder


@pytest.fixture
def stack(reader_folder: Path) -> Iterator[tuple[subprocess.Popen[str], str, str, Path]]:
    stack_command, _ = walkthrough(README.read_text(encoding="utf-8"))
    temporal, ui, api, sandbox = free_ports(4)
    ports = ["--temporal-port", str(temporal), "--ui-port", str(ui), "--api-port", str(api)]
    ports += ["--sandbox-port", str(sandbox)]
    log = reader_folder / "stack.out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERSALES_")}
    with open(log, "w") as out:
        process = subprocess.Popen(
            [*shlex.split(stack_command), *ports],
            cwd=reader_folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        yield process, f"http://127.0.0.1:{api}", f"http://127.0.0.1:{sandbox}", log
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def test_the_walkthrough_runs_as_written(reader_folder: Path, stack) -> None:  # noqa: ANN001
    process, api, sandbox, log = stack
    _, script = walkthrough(README.read_text(encoding="utf-8"))
    wait_for("the API", lambda: httpx.get(f"{api}/readyz", timeout=2).status_code == 200, process, log, timeout=90)

    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERSALES_")}
    env["AFTERSALES_API_URL"] = api
    ran = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=reader_folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert ran.returncode == 0, f"stdout:\n{ran.stdout}\nstderr:\n{ran.stderr}"
    out = ran.stdout
    assert "opened: wt-refund-1" in out and "opened: wt-return-1" in out
    assert "approve: done, case wt-refund-1" in out
    # The stale approval is refused, and the refusal says why.
    assert "refused, as expected" in out
    assert "error 409" in ran.stderr
    assert "record-inspection: done, case wt-return-1 is now refunding" in out
    assert '"case_id":"wt-return-1"' in out.replace(" ", "")  # the curl step read the case

    # Each case reaches what the walk-through says, and each refund is paid once.
    tokens = json.loads((reader_folder / ".data" / "walkthrough" / "tokens.json").read_text())
    operator = next(t for t, p in tokens.items() if p["role"] == "operator")
    headers = {"Authorization": f"Bearer {operator}"}

    def refunded(case_id: str) -> dict[str, Any] | None:
        view = httpx.get(f"{api}/v1/cases/shop-1:{case_id}", headers=headers, timeout=5).json()  # an operator names the shop
        return view if view["state"] == "refunded" else None

    expected = {"wt-refund-1": 10_500, "wt-return-1": 30_700}  # kettle + shipping; earbuds + return leg
    for case_id, amount in expected.items():
        view = wait_for(f"{case_id} to be refunded", lambda c=case_id: refunded(c), process, log, timeout=30)
        assert view["refund"]["amount"] == amount
        assert view["policy_version"] == "walkthrough-1"
        ledger = httpx.get(f"{sandbox}/payments/ledger", params={"case_id": case_id}, timeout=5).json()
        assert [p["amount"] for p in ledger["payouts"]] == [amount]

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0, log.read_text()


def test_the_first_screen_leads_to_the_quick_start_the_walkthrough_and_every_docs_page() -> None:
    first_screen = "\n".join(README.read_text(encoding="utf-8").splitlines()[:25])
    assert "(#quick-start)" in first_screen and "(#ten-minute-walk-through)" in first_screen
    pages = {f"docs/{p.name}" for p in (PROJECT_ROOT / "docs").glob("*.md")}
    for page in sorted(pages):
        assert f"({page})" in first_screen, f"{page} is not linked from the README's first screen"


def test_every_relative_link_in_the_readme_and_docs_resolves() -> None:
    for document in [README, *sorted((PROJECT_ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", document.read_text(encoding="utf-8")):
            path = (document.parent / target).resolve()
            assert path.exists(), f"{document.name} links {target}, which does not exist"
