"""deploy/: the Dockerfile, the compose stack and the Kubernetes manifests, read and checked.

No Docker engine or cluster runs here: these tests parse the files and check the properties
that matter (non-root, resources, probes on the right paths and port, every memcached node
named, only real settings used, the README's start command). `kubectl kustomize` renders the
manifests when kubectl is installed; nothing is built, started or applied.
"""

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess

import pytest
import yaml

from wsi_blueprint.serving import gunicorn_options
from wsi_blueprint.settings import SETTINGS, Settings, _size

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEPLOY = os.path.join(ROOT, "deploy")
K8S = os.path.join(DEPLOY, "k8s")
DOCKERFILE = os.path.join(DEPLOY, "Dockerfile")
DOCKERIGNORE = DOCKERFILE + ".dockerignore"
COMPOSE = os.path.join(DEPLOY, "docker-compose.yml")

SETTING_KEYS = {s.key for s in SETTINGS}
# The server process's own keys, read by wsi_blueprint/serving.py (docs/configuration.md:
# "Server process settings").
PROCESS_KEYS = {"WSI_BIND", "WEB_CONCURRENCY", "WSI_WORKER_CONNECTIONS", "WSI_WORKER_TIMEOUT"}
APP_PORT = 8000


# ---------------------------------------------------------------------------------------------
# Reading the files

def _yaml_files(folder):
    for dirpath, _, names in os.walk(folder):
        for name in sorted(names):
            if name.endswith((".yaml", ".yml")):
                yield os.path.join(dirpath, name)


def _load_all(path):
    with open(path, encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def _k8s_objects():
    objects = []
    for path in _yaml_files(K8S):
        if os.path.basename(path) != "kustomization.yaml":
            objects.extend(_load_all(path))
    return objects


K8S_OBJECTS = _k8s_objects()


def _of_kind(kind):
    return [o for o in K8S_OBJECTS if o["kind"] == kind]


def _one(kind, name=None):
    found = [o for o in _of_kind(kind) if name is None or o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def _workloads():
    return [o for o in K8S_OBJECTS if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet",
                                                      "Job", "CronJob")]


def _containers(workload):
    spec = workload["spec"]["template"]["spec"]
    return spec.get("initContainers", []) + spec["containers"]


def _server():
    deployment = _one("Deployment", "wsi-blueprint")
    (container,) = [c for c in deployment["spec"]["template"]["spec"]["containers"]
                    if c["name"] == "server"]
    return deployment, container


def _memcached():
    return _one("StatefulSet", "memcached")


def _configmap():
    return _one("ConfigMap", "wsi-blueprint-config")["data"]


def _compose():
    (doc,) = _load_all(COMPOSE)
    return doc


def _readme_command():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        match = re.search(r"`(gunicorn -c [^`]+)`", f.read())
    assert match, "README.md no longer gives the standalone gunicorn command"
    return shlex.split(match.group(1))


def _dockerfile():
    """Instructions as (stage, INSTRUCTION, arguments), line continuations joined, comments
    and parser directives dropped; stage is the FROM alias or its index."""
    with open(DOCKERFILE, encoding="utf-8") as f:
        lines = f.read().splitlines()
    logical, current = [], ""
    for line in lines:
        if line.lstrip().startswith("#"):
            continue  # comments, also inside a continued instruction, as Docker does
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1]
            continue
        current += line
        if current.strip():
            logical.append(current.strip())
        current = ""
    instructions, stage, stages = [], None, 0
    for text in logical:
        word, _, rest = text.partition(" ")
        word = word.upper()
        if word == "FROM":
            parts = rest.split()
            stage = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else str(stages)
            stages += 1
        instructions.append((stage, word, rest.strip()))
    return instructions


DOCKER = _dockerfile()


def _stage_names():
    return [stage for stage, word, _ in DOCKER if word == "FROM"]


def _in_stage(stage, word=None):
    return [(w, rest) for s, w, rest in DOCKER if s == stage and (word is None or w == word)]


def _final(word=None):
    return _in_stage(_stage_names()[-1], word)


def _dockerfile_args():
    return {rest.partition("=")[0]: rest.partition("=")[2] for s, w, rest in DOCKER
            if w == "ARG" and s is None}


def _env_pairs(rest):
    """ENV in its key=value form (several pairs, values possibly quoted)."""
    return dict(pair.split("=", 1) for pair in shlex.split(rest))


def _exec_form(text):
    value = json.loads(text)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), text
    return value


# ---------------------------------------------------------------------------------------------
# Every file

def test_every_yaml_file_under_deploy_parses_and_names_its_kubernetes_objects():
    paths = list(_yaml_files(DEPLOY))
    assert os.path.join(DEPLOY, "docker-compose.yml") in paths and len(paths) > 5
    for path in paths:
        docs = _load_all(path)
        assert docs, f"{path} is empty"
        if path.startswith(K8S + os.sep) and not path.endswith("kustomization.yaml"):
            for doc in docs:
                assert {"apiVersion", "kind", "metadata"} <= set(doc), path
                assert doc["metadata"].get("name"), path


def test_kustomization_lists_every_file_in_the_folder():
    (kustomization,) = _load_all(os.path.join(K8S, "kustomization.yaml"))
    listed = kustomization["resources"]
    present = sorted(n for n in os.listdir(K8S)
                     if n.endswith((".yaml", ".yml")) and n != "kustomization.yaml")
    assert sorted(listed) == present
    assert len(listed) == len(set(listed))


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_renders_the_whole_set():
    rendered = subprocess.run(["kubectl", "kustomize", K8S], capture_output=True, text=True,
                              timeout=30)
    assert rendered.returncode == 0, rendered.stderr
    kinds = sorted((d["kind"], d["metadata"]["name"])
                   for d in yaml.safe_load_all(rendered.stdout) if d)
    assert kinds == sorted((o["kind"], o["metadata"]["name"]) for o in K8S_OBJECTS)
    for doc in yaml.safe_load_all(rendered.stdout):
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "wsi-blueprint"


# ---------------------------------------------------------------------------------------------
# Kubernetes: workloads

def test_the_set_has_every_part():
    kinds = {(o["apiVersion"], o["kind"]) for o in K8S_OBJECTS}
    assert kinds >= {("apps/v1", "Deployment"), ("v1", "Service"), ("v1", "ConfigMap"),
                     ("v1", "Secret"), ("autoscaling/v2", "HorizontalPodAutoscaler"),
                     ("apps/v1", "StatefulSet"), ("policy/v1", "PodDisruptionBudget")}


def test_every_container_runs_as_non_root_on_a_read_only_root_filesystem():
    workloads = _workloads()
    assert workloads
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        pod_security = pod.get("securityContext", {})
        assert pod.get("automountServiceAccountToken") is False, workload["metadata"]["name"]
        for container in _containers(workload):
            where = f"{workload['metadata']['name']}/{container['name']}"
            security = {**pod_security, **container.get("securityContext", {})}
            assert security.get("runAsNonRoot") is True, where
            assert security.get("runAsUser", 1) != 0, where
            assert security.get("allowPrivilegeEscalation") is False, where
            assert security.get("readOnlyRootFilesystem") is True, where
            assert "ALL" in security.get("capabilities", {}).get("drop", []), where
            assert security.get("seccompProfile", {}).get("type") == "RuntimeDefault", where


def _quantity(value):
    """CPU in cores or memory in bytes from a Kubernetes quantity."""
    text = str(value)
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 1e3, "M": 1e6, "G": 1e9}
    for suffix in sorted(units, key=len, reverse=True):
        if text.endswith(suffix):
            return float(text[:-len(suffix)]) * units[suffix]
    return float(text)


def test_every_container_has_requests_and_limits():
    for workload in _workloads():
        for container in _containers(workload):
            where = f"{workload['metadata']['name']}/{container['name']}"
            resources = container.get("resources", {})
            for resource in ("cpu", "memory"):
                request = resources.get("requests", {}).get(resource)
                limit = resources.get("limits", {}).get(resource)
                assert request is not None and limit is not None, f"{where} {resource}"
                assert _quantity(request) <= _quantity(limit), f"{where} {resource}"


def test_the_server_is_a_two_core_pod_whose_workers_fit_it():
    deployment, container = _server()
    assert deployment["spec"]["replicas"] == 2
    limits = container["resources"]["limits"]
    assert _quantity(limits["cpu"]) == 2
    config = _configmap()
    # os.cpu_count() in a container is the node's, so workers and CPU threads must be set.
    workers = int(config["WEB_CONCURRENCY"])
    assert 1 <= workers <= _quantity(limits["cpu"])
    if "WSI_CPU_THREADS" in SETTING_KEYS:
        assert 1 <= int(config["WSI_CPU_THREADS"]) <= _quantity(limits["cpu"])
    settings = Settings.from_mapping(config)
    in_process = (settings.metadata_cache_bytes + settings.block_cache_bytes
                  + settings.tile_cache_bytes)
    # an in-memory emptyDir counts against the memory limit too
    in_memory_volumes = sum(
        _quantity(v["emptyDir"].get("sizeLimit", limits["memory"]))
        for v in deployment["spec"]["template"]["spec"].get("volumes", [])
        if v.get("emptyDir", {}).get("medium") == "Memory")
    assert workers * in_process + in_memory_volumes <= 0.6 * _quantity(limits["memory"]), \
        "the in-process caches of every worker leave too little of the memory limit"


def _port_number(container, port):
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container["ports"] if p.get("name") == port]
    return number


def test_server_probes_ask_healthz_and_readyz_on_the_container_port():
    _, container = _server()
    ports = [p["containerPort"] for p in container["ports"]]
    assert ports == [APP_PORT]
    readiness, liveness = container["readinessProbe"], container["livenessProbe"]
    assert readiness["httpGet"]["path"] == "/readyz"
    assert liveness["httpGet"]["path"] == "/healthz"
    probes = [readiness, liveness] + ([container["startupProbe"]]
                                      if "startupProbe" in container else [])
    for probe in probes:
        assert _port_number(container, probe["httpGet"]["port"]) == APP_PORT
        # a probe answers before the next one is due
        assert 1 <= probe.get("timeoutSeconds", 1) < probe.get("periodSeconds", 10)
    # liveness never depends on the store or memcached: only /healthz restarts a pod
    assert "startupProbe" not in container or \
        container["startupProbe"]["httpGet"]["path"] == "/healthz"
    # /readyz bounds each of its checks (store, memcached) and answers within their sum
    ready_timeout = _ready_timeout()
    if ready_timeout is not None:
        assert readiness["timeoutSeconds"] > 2 * ready_timeout
    # a memcached node restarting must not take every server out of the Service at once
    assert readiness.get("failureThreshold", 3) * readiness.get("periodSeconds", 10) >= 20
    assert liveness.get("failureThreshold", 3) * liveness.get("periodSeconds", 10) >= 20


def _ready_timeout():
    """READY_TIMEOUT of the readiness view, read from its source (importing the protocols
    would cost more than the rest of these tests)."""
    for name in ("ops.py", "rest.py"):
        path = os.path.join(ROOT, "wsi_blueprint", "protocols", name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                match = re.search(r"^READY_TIMEOUT\s*=\s*([0-9.]+)", f.read(), re.M)
            if match:
                return float(match.group(1))
    return None


def test_server_metrics_are_scraped_from_the_app_port():
    deployment, _ = _server()
    annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
    if "prometheus.io/scrape" in annotations:
        assert annotations["prometheus.io/port"] == str(APP_PORT)
        assert annotations["prometheus.io/path"] == "/metrics"


def test_server_port_is_the_one_gunicorn_binds():
    bind = _configmap()["WSI_BIND"]
    assert bind.rpartition(":")[2] == str(APP_PORT)
    assert gunicorn_options({"WSI_BIND": bind})["bind"] == bind


def test_server_runs_the_readme_command_with_a_writable_tmp_only():
    deployment, container = _server()
    if "command" in container:
        assert container["command"] + container.get("args", []) == _readme_command()
    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
    assert "/tmp" in mounts, "gunicorn writes its worker heartbeat files in /tmp"
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_termination_grace_covers_the_prestop_pause_and_gunicorn_graceful_timeout():
    deployment, container = _server()
    pause = 0
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {})
    if pre_stop.get("command", [""])[0] == "sleep":
        pause = int(pre_stop["command"][1])
    grace = deployment["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
    assert grace >= pause + gunicorn_options({})["graceful_timeout"]


def test_server_settings_come_from_the_configmap_and_the_secret():
    _, container = _server()
    refs = container["envFrom"]
    (config_ref,) = [r["configMapRef"]["name"] for r in refs if "configMapRef" in r]
    (secret_ref,) = [r["secretRef"]["name"] for r in refs if "secretRef" in r]
    _one("ConfigMap", config_ref)
    _one("Secret", secret_ref)


def test_the_configmap_holds_real_settings_that_parse():
    config = _configmap()
    unknown = [k for k in config if k not in SETTING_KEYS | PROCESS_KEYS]
    assert not unknown, f"not settings of wsi_blueprint: {unknown}"
    settings = Settings.from_mapping(config)
    assert settings.store.startswith("s3://")
    for key in PROCESS_KEYS - {"WSI_BIND"}:
        int(config[key])


def test_the_secret_example_holds_placeholders_only():
    secret = _one("Secret", "wsi-blueprint-secrets")
    assert "data" not in secret, "an example Secret carries readable placeholders, not base64"
    values = secret["stringData"]
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(values)
    for key, value in values.items():
        assert value == "" or "REPLACE" in value, f"{key} looks like a real value"
        if key.startswith("WSI_"):
            assert key in SETTING_KEYS, key


def test_services_hpa_and_budgets_select_their_pods():
    deployment, container = _server()
    server_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= server_labels.items()
    service = _one("Service", "wsi-blueprint")
    assert service["spec"]["selector"].items() <= server_labels.items()
    for port in service["spec"]["ports"]:
        assert _port_number(container, port["targetPort"]) == APP_PORT

    hpa = _one("HorizontalPodAutoscaler")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] > \
        hpa["spec"]["minReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Resource" and metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}

    memcached_labels = _memcached()["spec"]["template"]["metadata"]["labels"]
    budgets = _of_kind("PodDisruptionBudget")
    covered = []
    for budget in budgets:
        selector = budget["spec"]["selector"]["matchLabels"].items()
        matches = [name for name, labels in (("server", server_labels),
                                             ("memcached", memcached_labels))
                   if selector <= labels.items()]
        assert len(matches) == 1, budget["metadata"]["name"]
        covered += matches
    assert "server" in covered
    server_budget = [b for b in budgets if b["spec"]["selector"]["matchLabels"].items()
                     <= server_labels.items()][0]["spec"]
    assert server_budget.get("minAvailable", 0) < deployment["spec"]["replicas"] or \
        "maxUnavailable" in server_budget, "the budget would block every drain"


# ---------------------------------------------------------------------------------------------
# Kubernetes: memcached

def test_the_app_names_every_memcached_replica_for_consistent_hashing():
    statefulset = _memcached()
    service = _one("Service", statefulset["spec"]["serviceName"])
    assert service["spec"].get("clusterIP") == "None", "per-pod DNS needs a headless Service"
    labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    port = _port_number(container, service["spec"]["ports"][0]["targetPort"])
    assert port == service["spec"]["ports"][0]["port"] == 11211

    name, headless = statefulset["metadata"]["name"], service["metadata"]["name"]
    expected = [(f"{name}-{i}.{headless}", port) for i in range(statefulset["spec"]["replicas"])]
    servers = Settings.from_mapping(_configmap()).memcached_servers()
    assert servers == expected
    assert statefulset["spec"]["replicas"] == 3


def _item_limit_flag(argv):
    args = [a for a in argv if a != "memcached"]
    return _size(args[args.index("-I") + 1]) if "-I" in args else _size("1M")


def test_memcached_item_limit_matches_the_apps():
    (container,) = _memcached()["spec"]["template"]["spec"]["containers"]
    served = _item_limit_flag(container.get("command", []) + container.get("args", []))
    assert served == Settings.from_mapping(_configmap()).memcached_item_limit
    compose = _compose()["services"]
    served = _item_limit_flag(compose["memcached"]["command"])
    assert served == Settings.from_mapping(compose["server"]["environment"]).memcached_item_limit


# ---------------------------------------------------------------------------------------------
# Compose

def test_compose_has_minio_seed_memcached_and_server():
    services = _compose()["services"]
    assert set(services) >= {"minio", "seed", "memcached", "server"}
    assert services["minio"]["healthcheck"]["test"]
    assert "/data" in services["minio"]["command"]


def test_compose_server_waits_for_minio_memcached_and_the_seed():
    server = _compose()["services"]["server"]
    depends = server["depends_on"]
    assert set(depends) >= {"minio", "memcached", "seed"}
    assert depends["minio"]["condition"] == "service_healthy"
    assert depends["seed"]["condition"] == "service_completed_successfully"
    assert depends["memcached"]["condition"] in ("service_started", "service_healthy")
    assert f"{APP_PORT}:{APP_PORT}" in server["ports"]


def test_compose_server_reads_the_seeded_bucket_through_minio_and_memcached():
    services = _compose()["services"]
    server, seed = services["server"], services["seed"]
    env = server["environment"]
    assert env["WSI_STORE"] == "s3://slides"
    assert env["WSI_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert env["WSI_MEMCACHED"] == "memcached:11211"
    assert env["WSI_BIND"].rpartition(":")[2] == str(APP_PORT)
    assert env["AWS_ACCESS_KEY_ID"] and env["AWS_SECRET_ACCESS_KEY"]
    assert seed["environment"]["SEED_BUCKET"] == env["WSI_STORE"].removeprefix("s3://")
    assert seed["environment"]["WSI_S3_ENDPOINT_URL"] == env["WSI_S3_ENDPOINT_URL"]
    Settings.from_mapping(env)
    # the seed job runs in the app image
    assert seed["image"] == server["image"] and seed["build"] == server["build"]
    assert server.get("read_only") is True and "/tmp" in server.get("tmpfs", [])


def test_compose_builds_the_dockerfile_from_the_repository_root():
    build = _compose()["services"]["server"]["build"]
    context = os.path.normpath(os.path.join(DEPLOY, build["context"]))
    assert context == ROOT
    assert os.path.join(context, build["dockerfile"]) == DOCKERFILE


def test_compose_seed_script_exists_and_makes_the_sample_slide():
    seed = _compose()["services"]["seed"]
    mounted = {}
    for volume in seed["volumes"]:
        source, target = volume.split(":")[:2]
        mounted[target] = os.path.normpath(os.path.join(DEPLOY, source))
    script_in_container = seed["command"][-1]
    script = mounted[script_in_container]
    with open(script, encoding="utf-8") as f:
        code = f.read()
    compile(code, script, "exec")
    assert "write_sample" in code and "put_object" in code and "create_bucket" in code


# ---------------------------------------------------------------------------------------------
# Settings keys, everywhere

def _compose_env_keys():
    keys = set()
    for service in _compose()["services"].values():
        env = service.get("environment", {})
        keys |= set(env) if isinstance(env, dict) else {e.split("=", 1)[0] for e in env}
    return keys


def _dockerfile_env_keys():
    keys = set()
    for _, word, rest in DOCKER:
        if word == "ENV":
            keys |= set(_env_pairs(rest))
    return keys


def _manifest_env_keys():
    keys = set(_configmap())
    for secret in _of_kind("Secret"):
        keys |= set(secret.get("stringData", {})) | set(secret.get("data", {}))
    for workload in _workloads():
        for container in _containers(workload):
            keys |= {e["name"] for e in container.get("env", [])}
    return keys


@pytest.mark.parametrize("where,keys", [("k8s", _manifest_env_keys),
                                        ("compose", _compose_env_keys),
                                        ("Dockerfile", _dockerfile_env_keys)])
def test_every_wsi_key_is_a_real_setting(where, keys):
    used = {k for k in keys() if k.startswith("WSI_") or k == "WEB_CONCURRENCY"}
    assert used, where
    unknown = sorted(used - SETTING_KEYS - PROCESS_KEYS)
    assert not unknown, f"{where} uses keys wsi_blueprint does not read: {unknown}"


# ---------------------------------------------------------------------------------------------
# Dockerfile

def test_dockerfile_is_multi_stage_on_slim_python_311():
    froms = [rest for _, word, rest in DOCKER if word == "FROM"]
    assert len(froms) >= 2
    bases = {rest.split()[0] for rest in froms}
    args = _dockerfile_args()
    resolved = {args.get(b.strip("${}"), b) if b.startswith("$") else b for b in bases}
    assert all(re.fullmatch(r"python:3\.11-slim(-\w+)?", b) for b in resolved), resolved


def test_dockerfile_installs_the_server_and_s3_extras_and_fetches_the_viewer_assets():
    runs = [rest for _, word, rest in DOCKER if word == "RUN"]
    assert any(re.search(r"pip install .*\.\[server,s3\]", run) for run in runs)
    fetch = [(s, rest) for s, word, rest in DOCKER
             if word == "RUN" and "python -m wsi_blueprint.viewer.assets" in rest]
    assert fetch, "the viewer's OpenSeadragon is never fetched"
    stage = fetch[0][0]
    assert stage != _stage_names()[-1], "npm must stay out of the final image"
    # run where `wsi_blueprint` is the installed package, not the copied source tree
    workdirs = [rest for w, rest in _in_stage(stage) if w == "WORKDIR"]
    index = [r for w, r in _in_stage(stage)].index(fetch[0][1])
    before = [r for w, r in _in_stage(stage)[:index] if w == "WORKDIR"]
    assert workdirs and before[-1] == "/", "assets would land in /src, not in the virtualenv"
    assert any("apt-get install" in r and "npm" in r for w, r in _in_stage(stage, "RUN"))


def test_the_final_image_carries_no_npm_or_node():
    for word, rest in _final():
        if word == "RUN":
            assert not re.search(r"\b(npm|nodejs|node)\b", rest), rest
        if word == "COPY":
            assert not re.search(r"\b(npm|node|node_modules)\b", rest), rest
    copies = [rest for word, rest in _final("COPY") if rest.startswith("--from=")]
    assert any("/opt/venv" in c for c in copies), "the final stage takes the built virtualenv"


def test_dockerfile_runs_as_a_non_root_user():
    users = [rest for word, rest in _final("USER")]
    assert users, "the final stage has no USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0", "")
    # numeric, so that Kubernetes runAsNonRoot can verify it; the same uid as the manifests
    assert user.isdigit()
    deployment, _ = _server()
    assert int(user) == deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"]


def test_dockerfile_healthcheck_asks_healthz_and_port_8000_is_exposed():
    (healthcheck,) = [rest for word, rest in _final("HEALTHCHECK")]
    command = healthcheck[healthcheck.index("CMD") + 3:].strip()
    argv = _exec_form(command)
    assert "/healthz" in argv[-1]
    assert "--interval=" in healthcheck and "--timeout=" in healthcheck
    assert [rest for word, rest in _final("EXPOSE")] == [str(APP_PORT)]
    env = {}
    for word, rest in _final("ENV"):
        env.update(_env_pairs(rest))
    assert env["WSI_BIND"] == f"0.0.0.0:{APP_PORT}"


def test_dockerfile_cmd_is_the_readme_gunicorn_command():
    (cmd,) = [rest for word, rest in _final("CMD")]
    assert _exec_form(cmd) == _readme_command()
    # and what it names is there: conf/gunicorn.conf.py and wsgi.py in the working directory
    (workdir,) = [rest for word, rest in _final("WORKDIR")]
    copied = " ".join(rest for word, rest in _final("COPY") if not rest.startswith("--from"))
    assert "conf/" in copied and "wsgi.py" in copied and workdir == "/app"


def _dockerignore_patterns():
    with open(DOCKERIGNORE, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("#")]


def _ignored(path, patterns):
    """Docker's rule, simplified: a path is out if it or a parent matches the last matching
    pattern (`**/` matches any depth, a leading `!` takes a path back)."""
    path = path.strip("/")
    parts = path.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    verdict = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        glob = pattern.lstrip("!").strip("/")
        for candidate in candidates:
            names = [candidate]
            if glob.startswith("**/"):
                glob_tail, names = glob[3:], ["/".join(candidate.split("/")[i:])
                                              for i in range(len(candidate.split("/")))]
                if any(fnmatch.fnmatchcase(n, glob_tail) for n in names):
                    verdict = not negate
                    break
            elif fnmatch.fnmatchcase(candidate, glob):
                verdict = not negate
                break
    return verdict


def test_dockerignore_keeps_the_context_small_and_clean():
    patterns = _dockerignore_patterns()
    for path in (".git", ".tox", "tests", "slides", "node_modules", "a/b/node_modules",
                 "wsi_blueprint/viewer/static/vendor", "wsi_blueprint/__pycache__"):
        assert _ignored(path, patterns), f"{path} would be sent to the builder"
    assert not os.path.exists(os.path.join(ROOT, ".dockerignore")), \
        "the repository root keeps no .dockerignore; deploy/Dockerfile.dockerignore is used"


def test_dockerfile_copy_sources_exist_and_reach_the_builder():
    patterns = _dockerignore_patterns()
    sources = []
    for _, word, rest in DOCKER:
        if word not in ("COPY", "ADD") or "--from=" in rest:
            continue
        args = [a for a in shlex.split(rest) if not a.startswith("--")]
        sources += args[:-1]
    assert sources
    for source in sources:
        assert os.path.exists(os.path.join(ROOT, source)), f"COPY {source}: not in the repository"
        assert not _ignored(source, patterns), f"COPY {source}: excluded by the dockerignore"


def test_the_image_install_finds_every_subpackage():
    """The image installs the package for real (not editable): setup.py's find_packages
    leaves out a folder of modules without __init__.py (and everything below it), and then
    the server fails to boot. Editable installs and the tests do not notice."""
    missing = []
    for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, "wsi_blueprint")):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        if any(f.endswith(".py") for f in filenames) and "__init__.py" not in filenames:
            missing.append(os.path.relpath(dirpath, ROOT).replace(os.sep, "."))
    assert not missing, f"not installed by `pip install .` (no __init__.py): {missing}"
