"""The production compose file, the Prometheus alerts and the Grafana dashboard.

``docker-compose config`` (Debian's ``docker-compose`` package, no daemon needed) validates the
compose file against the Compose schema, and ``promtool`` (Debian's ``prometheus`` package) the
Prometheus configuration, the alert rules and every dashboard query; scripts/test.sh installs both
in CI. The other checks read the files for what no schema knows: maintained images, one image
for every role of ours, the search attributes the code uses, health checks, and alerts and
panels that query series the code exports.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from runtime.telemetry import SERIES
from workflows import search_attributes

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DEPLOY = ROOT / "deploy"
OUR_ROLES = ("aftersales-config", "worker", "api", "sandbox")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def _compose_cli() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    return None


def _missing(tool: str, package: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI must run {tool}: scripts/test.sh installs Debian's {package}")
    pytest.skip(f"no {tool} here (apt-get install {package}; scripts/test.sh does in CI)")


def test_compose_cli_validates_the_file():
    cli = _compose_cli()
    if cli is None:
        _missing("docker-compose", "docker-compose")
    for profile in ([], ["--profile", "observability"]):
        done = subprocess.run([*cli, "-f", str(COMPOSE), *profile, "config", "-q"], capture_output=True, text=True,
                              cwd=ROOT, env={**os.environ, "COMPOSE_PROJECT_NAME": "aftersales"})
        assert done.returncode == 0, done.stderr


def test_maintained_temporal_images(compose):
    images = {name: service["image"] for name, service in compose["services"].items() if "image" in service}
    assert not any("auto-setup" in image for image in images.values())
    assert images["temporal"].startswith("temporalio/server:")
    assert images["temporal-schema"].startswith("temporalio/admin-tools:")
    assert "temporal-sql-tool" in "".join(compose["services"]["temporal-schema"]["command"])
    ui_version = re.search(r"(\d+)\.(\d+)\.\d+\}?$", images["temporal-ui"])
    assert ui_version and (int(ui_version[1]), int(ui_version[2])) >= (2, 45)


def test_one_image_for_every_role_built_once(compose):
    services = compose["services"]
    built = [name for name, service in services.items() if "build" in service]
    assert built == ["aftersales-config"]
    assert {services[name]["image"] for name in OUR_ROLES} == {services["aftersales-config"]["image"]}
    for name in ("worker", "api", "sandbox"):
        assert services[name]["depends_on"]["aftersales-config"]["condition"] == "service_completed_successfully"


def test_worker_and_api_have_health_checks_and_restart(compose):
    for name in ("worker", "api"):
        service = compose["services"][name]
        assert service["restart"] == "unless-stopped"
        assert "healthcheck" in service and service["healthcheck"]["test"][0] == "CMD"
    assert "/readyz" in " ".join(compose["services"]["api"]["healthcheck"]["test"])
    worker_env = compose["services"]["worker"]["environment"]
    port = worker_env["AFTERSALES_WORKER_METRICS"].rsplit(":", 1)[1]
    assert f":{port}/metrics" in " ".join(compose["services"]["worker"]["healthcheck"]["test"])


def test_tokens_come_from_the_config_step_not_a_file_made_by_hand(compose):
    services = compose["services"]
    assert "--init-tokens" in services["aftersales-config"]["command"]
    api_volumes = services["api"]["volumes"]
    assert any(v.startswith("aftersales-config:/config") for v in api_volumes)
    assert not any(v.startswith("./") for v in api_volumes)
    assert services["api"]["environment"]["AFTERSALES_TOKENS"].startswith("/config/")


def test_the_search_attributes_registered_are_the_ones_the_code_uses(compose):
    script = "".join(compose["services"]["temporal-setup"]["command"])
    registered = dict(re.findall(r"\b([A-Z]\w+)=(Keyword|KeywordList|Datetime|Bool|Text|Int|Double)\b", script))
    kinds = {"KEYWORD": "Keyword", "KEYWORD_LIST": "KeywordList", "DATETIME": "Datetime", "BOOL": "Bool"}
    expected = {key.name: kinds[key.indexed_value_type.name] for key in search_attributes.ALL}
    assert registered == expected


def _exprs_series(expr: str) -> set[str]:
    return set(re.findall(r"\b((?:aftersales|temporal)_[a-z_]+)", expr))


def _known(series: str) -> bool:
    if series.startswith("temporal_"):
        return True  # the SDK's (tests/api/test_metrics.py scrapes the ones we rely on)
    base = re.sub(r"_(bucket|count|sum)$", "", series)
    return base in SERIES


def test_alerts_cover_payouts_needs_attention_and_backlog():
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())["groups"][0]["rules"]
    by_name = {rule["alert"]: rule for rule in rules}
    for rule in rules:
        assert rule["expr"] and rule["annotations"]["summary"], rule
        assert all(_known(s) for s in _exprs_series(rule["expr"])), rule["expr"]
    assert "aftersales_payout_failures_total" in by_name["AftersalesPayoutsRefused"]["expr"]
    assert "aftersales_cases_needs_attention" in by_name["AftersalesNeedsAttentionGrowing"]["expr"]
    assert "temporal_workflow_task_schedule_to_start_latency_seconds_bucket" in (
        by_name["AftersalesWorkflowTaskBacklog"]["expr"])


def test_prometheus_scrapes_what_compose_serves(compose):
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["aftersales-api"]["static_configs"][0]["targets"] == ["api:8000"]
    worker_port = int(compose["services"]["worker"]["environment"]["AFTERSALES_WORKER_METRICS"].rsplit(":", 1)[1])
    assert jobs["aftersales-worker"]["dns_sd_configs"][0] == {"names": ["worker"], "type": "A", "port": worker_port}
    mounted = " ".join(compose["services"]["prometheus"]["volumes"])
    assert "alerts.yml" in mounted and "/etc/prometheus/alerts.yml" in config["rule_files"]


def test_dashboard_panels_query_exported_series():
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "aftersales.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = set().union(*(_exprs_series(e) for e in exprs))
    assert all(_known(s) for s in used), used
    ours = {re.sub(r"_(bucket|count|sum)$", "", s) for s in used if s.startswith("aftersales_")}
    assert ours == set(SERIES) - {"aftersales_event_deliveries_failed_total"}  # no events yet (issue 19)


def _promtool() -> str:
    tool = shutil.which("promtool")
    if tool is None:
        _missing("promtool", "prometheus")
    return str(tool)


def test_promtool_accepts_the_config_rules_and_dashboard_queries(tmp_path):
    promtool = _promtool()
    rules = DEPLOY / "prometheus" / "alerts.yml"
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    config["rule_files"] = [str(rules)]  # the container's path, here
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "aftersales.json").read_text())
    recorded = [{"record": f"dashboard:panel_{panel['id']}", "expr": target["expr"]}
                for panel in dashboard["panels"] for target in panel["targets"]]
    (tmp_path / "dashboard-rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": recorded}]}))
    for args in (["check", "config", str(tmp_path / "prometheus.yml")],
                 ["check", "rules", str(rules), str(tmp_path / "dashboard-rules.yml")]):
        done = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr


def test_workers_and_api_share_one_event_store(compose):
    """The workers write events and the cases read model; the API serves /v1/events, the feeds and
    the queues from them. Each container's own file would leave the API with an empty store."""
    services = compose["services"]
    dsns = {services[name]["environment"].get("AFTERSALES_EVENTS_DSN") for name in ("worker", "api")}
    assert len(dsns) == 1
    (dsn,) = dsns
    assert dsn is not None and dsn.startswith("sqlite:////")
    folder = dsn[len("sqlite:///"):].rsplit("/", 1)[0]
    mounts = [{v.split(":")[0] for v in services[name].get("volumes", []) if v.split(":")[1] == folder}
              for name in ("worker", "api")]
    assert mounts[0] == mounts[1] and len(mounts[0]) == 1
    (volume,) = mounts[0]
    assert volume in compose["volumes"]  # a named volume, not a container's own layer


def test_the_image_gets_every_package_of_the_project():
    """The image once listed its packages one COPY at a time and missed casefeed, which the worker
    imports: a worker container would not have started. Now it copies the project minus
    .dockerignore; no package of ours may be ignored, and pip installs each of them."""
    assert "COPY . ." in (ROOT / "Dockerfile").read_text().splitlines()
    ignored = {line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")} - {"tests"}
    assert {"domain", "workflows", "casefeed", "http_api"} <= packages
    assert not packages & ignored
    assert {".git", ".venv", ".data", "tests"} <= ignored
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    assert packages <= {pattern.rstrip("*") for pattern in include}
    assert (ROOT / "worker.py").exists() and "worker.py" not in ignored
