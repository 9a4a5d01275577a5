"""Checks of deploy/ for scripts/check-deploy that no off-the-shelf tool makes.

    python3 scripts/lib/check_deploy.py kubernetes DIR [RENDERED.yaml]
    python3 scripts/lib/check_deploy.py keda-query DIR
    python3 scripts/lib/check_deploy.py bounds DEPLOY_DIR
    python3 scripts/lib/check_deploy.py compose FILE

`kubernetes` validates the built-in kinds against the Kubernetes schemas (kubernetes-validate,
strict, oldest and newest supported version), checks KEDA's ScaledObject and
TriggerAuthentication structurally (KEDA's CRDs are not in those schemas), and checks the
references between the manifests. `bounds` checks that every supervisor waits longer than the
worker's graceful shutdown. Prints one problem a line on stderr and exits 1 when there is any.
Needs PyYAML (and kubernetes-validate for `kubernetes`).
"""

import pathlib
import re
import sys

import yaml

# The oldest Kubernetes these manifests support (PodDisruptionBudget.unhealthyPodEvictionPolicy
# is on by default from 1.27) and the newest schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ["1.29.0", None]

# The worker's shutdown: past --shutdown-grace-seconds G it writes results for up to 5 s, is
# cancelled at G + 15 s and stops 10 s later (README, "The worker").
SHUTDOWN_BEYOND_GRACE = 25
DEFAULT_GRACE = 30

SCALED_OBJECT_SPEC = {"scaleTargetRef", "pollingInterval", "cooldownPeriod", "initialCooldownPeriod",
                      "idleReplicaCount", "minReplicaCount", "maxReplicaCount", "fallback", "advanced",
                      "triggers"}
TRIGGER_KEYS = {"type", "name", "metadata", "authenticationRef", "metricType", "useCachedMetrics"}
POSTGRESQL_METADATA = {"query", "targetQueryValue", "activationTargetQueryValue", "connectionFromEnv",
                       "host", "port", "userName", "passwordFromEnv", "dbName", "sslmode", "metricName"}
POSTGRESQL_AUTH_PARAMETERS = {"connection", "password", "host", "port", "userName", "dbName", "sslmode"}
TRIGGER_AUTHENTICATION_SPEC = {"secretTargetRef", "env", "configMapTargetRef", "podIdentity",
                               "hashiCorpVault", "azureKeyVault", "awsSecretManager", "gcpSecretManager",
                               "boundServiceAccountToken"}

problems = []


def problem(where, message):
    problems.append(f"{where}: {message}")


def documents(path):
    with open(path, encoding="utf-8") as stream:
        return [(path, doc) for doc in yaml.safe_load_all(stream) if doc is not None]


def is_builtin(doc):
    api = doc.get("apiVersion", "")
    group = api.split("/")[0] if "/" in api else ""
    return group == "" or "." not in group or group.endswith(".k8s.io")


def name_of(doc):
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def by_kind(docs, kind):
    return {doc["metadata"]["name"]: doc for _, doc in docs if doc.get("kind") == kind}


def grace_seconds(args):
    """--shutdown-grace-seconds in an argument list (`--flag value` or `--flag=value`)."""
    for index, arg in enumerate(args):
        if arg == "--shutdown-grace-seconds" and index + 1 < len(args):
            return float(args[index + 1])
        if arg.startswith("--shutdown-grace-seconds="):
            return float(arg.split("=", 1)[1])
    return DEFAULT_GRACE


def flag_value(args, flag):
    for index, arg in enumerate(args):
        if arg == flag and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def validate_builtin(docs):
    import kubernetes_validate

    for path, doc in docs:
        if not is_builtin(doc):
            continue
        for version in KUBERNETES_VERSIONS:
            target = version or kubernetes_validate.latest_version()
            try:
                kubernetes_validate.validate(doc, target, strict=True)
            except kubernetes_validate.ValidationError as error:
                location = ".".join(str(part) for part in error.path)
                problem(f"{path} {name_of(doc)}", f"Kubernetes {target}: {location}: {error.message}")
            except kubernetes_validate.SchemaNotFoundError:
                problem(f"{path} {name_of(doc)}", f"no schema for {doc.get('apiVersion')} {doc.get('kind')} "
                        f"in Kubernetes {target}")


def check_keda(docs):
    deployments = by_kind(docs, "Deployment")
    secrets = by_kind(docs, "Secret")
    authentications = by_kind(docs, "TriggerAuthentication")
    for path, doc in docs:
        kind = doc.get("kind")
        if not doc.get("apiVersion", "").startswith("keda.sh/"):
            continue
        where = f"{path} {name_of(doc)}"
        if doc.get("apiVersion") != "keda.sh/v1alpha1":
            problem(where, f"apiVersion {doc.get('apiVersion')}, expected keda.sh/v1alpha1")
        if set(doc) - {"apiVersion", "kind", "metadata", "spec"}:
            problem(where, f"unknown top-level fields {sorted(set(doc) - {'apiVersion', 'kind', 'metadata', 'spec'})}")
        if not isinstance(doc.get("metadata", {}).get("name"), str):
            problem(where, "metadata.name missing")
        if "namespace" in doc.get("metadata", {}):
            problem(where, "metadata.namespace set: the manifests are namespace-agnostic")
        spec = doc.get("spec")
        if not isinstance(spec, dict):
            problem(where, "spec missing")
            continue
        if kind == "ScaledObject":
            for key in sorted(set(spec) - SCALED_OBJECT_SPEC):
                problem(where, f"unknown field spec.{key}")
            target = spec.get("scaleTargetRef", {}).get("name")
            if target not in deployments:
                problem(where, f"scaleTargetRef.name {target!r} is no Deployment here")
            low, high = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
            if not all(isinstance(n, int) and n >= 0 for n in (low, high)) or low > high:
                problem(where, f"minReplicaCount {low!r} and maxReplicaCount {high!r}")
            for field in ("pollingInterval", "cooldownPeriod"):
                if field in spec and not (isinstance(spec[field], int) and spec[field] > 0):
                    problem(where, f"spec.{field} must be a positive integer")
            triggers = spec.get("triggers")
            if not isinstance(triggers, list) or not triggers:
                problem(where, "spec.triggers must be a non-empty list")
                continue
            for number, trigger in enumerate(triggers):
                at = f"{where} triggers[{number}]"
                for key in sorted(set(trigger) - TRIGGER_KEYS):
                    problem(at, f"unknown field {key}")
                metadata = trigger.get("metadata", {})
                for key, value in metadata.items():
                    if not isinstance(value, str):
                        problem(at, f"metadata.{key} must be a string (KEDA reads a map of strings)")
                if trigger.get("type") != "postgresql":
                    continue
                for key in sorted(set(metadata) - POSTGRESQL_METADATA):
                    problem(at, f"unknown postgresql metadata {key}")
                if not metadata.get("query"):
                    problem(at, "metadata.query missing")
                for key in ("targetQueryValue", "activationTargetQueryValue"):
                    if key in metadata and not re.fullmatch(r"\d+(\.\d+)?", str(metadata[key])):
                        problem(at, f"metadata.{key} {metadata[key]!r} is not a number")
                if "targetQueryValue" not in metadata:
                    problem(at, "metadata.targetQueryValue missing")
                reference = trigger.get("authenticationRef", {}).get("name")
                if reference is None and "connectionFromEnv" not in metadata and "host" not in metadata:
                    problem(at, "no connection: authenticationRef, connectionFromEnv or host")
                elif reference is not None and reference not in authentications:
                    problem(at, f"authenticationRef.name {reference!r} is no TriggerAuthentication here")
        elif kind == "TriggerAuthentication":
            for key in sorted(set(spec) - TRIGGER_AUTHENTICATION_SPEC):
                problem(where, f"unknown field spec.{key}")
            for number, reference in enumerate(spec.get("secretTargetRef", [])):
                at = f"{where} secretTargetRef[{number}]"
                if set(reference) != {"parameter", "name", "key"} or not all(
                        isinstance(value, str) for value in reference.values()):
                    problem(at, "needs exactly parameter, name and key, as strings")
                    continue
                if reference["parameter"] not in POSTGRESQL_AUTH_PARAMETERS:
                    problem(at, f"parameter {reference['parameter']!r} is not one the postgresql scaler reads")
                secret = secrets.get(reference["name"])
                if secret is None:
                    problem(at, f"Secret {reference['name']!r} is not among the manifests")
                elif reference["key"] not in {**secret.get("data", {}), **secret.get("stringData", {})}:
                    problem(at, f"Secret {reference['name']!r} has no key {reference['key']!r}")
        else:
            problem(where, f"unexpected KEDA kind {kind}")


def check_references(docs):
    secrets = by_kind(docs, "Secret")
    config_maps = by_kind(docs, "ConfigMap")
    claims = by_kind(docs, "PersistentVolumeClaim")
    accounts = by_kind(docs, "ServiceAccount")
    deployments = by_kind(docs, "Deployment")
    pods = [(f"Deployment/{name}", doc["spec"]["template"]) for name, doc in deployments.items()]
    pods += [(f"Job/{name}", doc["spec"]["template"]) for name, doc in by_kind(docs, "Job").items()]
    for where, template in pods:
        spec = template["spec"]
        account = spec.get("serviceAccountName")
        if account and account not in accounts:
            problem(where, f"serviceAccountName {account!r} is not among the manifests")
        for volume in spec.get("volumes", []):
            claim = volume.get("persistentVolumeClaim", {}).get("claimName")
            if claim and claim not in claims:
                problem(where, f"volume {volume['name']}: PersistentVolumeClaim {claim!r} is not among the manifests")
        for container in spec.get("containers", []):
            keys = set()
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    secret = secrets.get(source["secretRef"]["name"])
                    if secret is None:
                        problem(where, f"envFrom Secret {source['secretRef']['name']!r} is not among the manifests")
                    else:
                        keys |= set(secret.get("stringData", {})) | set(secret.get("data", {}))
                if "configMapRef" in source:
                    config_map = config_maps.get(source["configMapRef"]["name"])
                    if config_map is None:
                        problem(where, f"envFrom ConfigMap {source['configMapRef']['name']!r} is not among the manifests")
                    else:
                        keys |= set(config_map.get("data", {}))
            for variable in container.get("env", []):
                keys.add(variable["name"])
                reference = variable.get("valueFrom", {}).get("secretKeyRef")
                if reference:
                    secret = secrets.get(reference["name"])
                    if secret is None or reference["key"] not in secret.get("stringData", {}) | secret.get("data", {}):
                        problem(where, f"env {variable['name']}: no key {reference['key']!r} in Secret {reference['name']!r}")
            for arg in container.get("args", []) + container.get("command", []):
                for variable in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", str(arg)):
                    if variable not in keys:
                        problem(where, f"args use $({variable}), which no env or envFrom defines")
            command = container.get("command", [])
            if not command and "ENCOURS_DATABASE_URL" not in keys and "DATABASE_URL" not in keys:
                problem(where, "the worker gets no ENCOURS_DATABASE_URL")
    for name, deployment in deployments.items():
        where = f"Deployment/{name}"
        template = deployment["spec"]["template"]
        labels = template["metadata"].get("labels", {})
        selector = deployment["spec"]["selector"]["matchLabels"]
        if any(labels.get(key) != value for key, value in selector.items()):
            problem(where, "selector does not match the pod template's labels")
        annotations = template["metadata"].get("annotations", {})
        for container in template["spec"]["containers"]:
            args = [str(arg) for arg in container.get("args", [])]
            port = flag_value(args, "--metrics-port")
            if port is None:
                continue
            ports = {str(p["containerPort"]): p.get("name") for p in container.get("ports", [])}
            if port not in ports:
                problem(where, f"--metrics-port {port} is not a containerPort")
            if annotations.get("prometheus.io/port") != port:
                problem(where, f"prometheus.io/port {annotations.get('prometheus.io/port')!r} is not --metrics-port {port}")
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                http = container.get(probe, {}).get("httpGet")
                if http is None:
                    problem(where, f"no HTTP {probe}")
                    continue
                if http.get("path") != "/healthz" or str(http.get("port")) not in (port, ports.get(port)):
                    problem(where, f"{probe} is not GET /healthz on the metrics port")
            bound = grace_seconds(args) + SHUTDOWN_BEYOND_GRACE
            period = template["spec"].get("terminationGracePeriodSeconds", 30)
            if period <= bound:
                problem(where, f"terminationGracePeriodSeconds {period} is not above the worker's shutdown bound {bound:g} s")
            if not template["spec"].get("securityContext", {}).get("runAsNonRoot"):
                problem(where, "pod securityContext.runAsNonRoot is not true")
            if not container.get("securityContext", {}).get("readOnlyRootFilesystem"):
                problem(where, "container securityContext.readOnlyRootFilesystem is not true")
            if not container.get("resources", {}).get("requests"):
                problem(where, "no resource requests")
    for kind in ("Service", "PodDisruptionBudget"):
        for name, doc in by_kind(docs, kind).items():
            selector = doc["spec"].get("selector", {})
            selector = selector.get("matchLabels", selector) if kind == "PodDisruptionBudget" else selector
            if not any(all(d["spec"]["template"]["metadata"].get("labels", {}).get(k) == v for k, v in selector.items())
                       for d in deployments.values()):
                problem(f"{kind}/{name}", "selector matches no Deployment's pods")


def kubernetes(directory, rendered=None):
    directory = pathlib.Path(directory)
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = kustomization.get("resources", [])
    for resource in listed:
        if not (directory / resource).is_file():
            problem(directory / "kustomization.yaml", f"resource {resource} does not exist")
    files = sorted(p.name for p in directory.glob("*.yaml") if p.name != "kustomization.yaml")
    for name in files:
        if name not in listed and not name.endswith(".example.yaml"):
            problem(directory / "kustomization.yaml", f"{name} is not listed in resources")
    docs = [entry for name in files for entry in documents(directory / name)]
    for path, doc in docs:
        if "namespace" in doc.get("metadata", {}):
            problem(f"{path} {name_of(doc)}", "metadata.namespace set: the manifests are namespace-agnostic")
    validate_builtin(docs)
    check_keda(docs)
    check_references(docs)
    if rendered:
        # What `kubectl apply -k` would send: the listed resources with kustomize's labels and images.
        rendered_docs = documents(rendered)
        validate_builtin(rendered_docs)
        check_keda(rendered_docs + [entry for entry in docs if entry[1].get("kind") == "Secret"])
        kinds = sorted(name_of(doc) for _, doc in rendered_docs)
        expected = sorted(name_of(doc) for path, doc in docs if pathlib.Path(path).name in listed)
        if kinds != expected:
            problem(rendered, f"kustomize rendered {kinds}, the listed files hold {expected}")
        print(f"{len(docs)} manifests, {len(rendered_docs)} rendered by kustomize")
    else:
        print(f"{len(docs)} manifests")


def keda_query(directory):
    for path in sorted(pathlib.Path(directory).glob("*.yaml")):
        for _, doc in documents(path):
            if doc.get("kind") == "ScaledObject":
                for trigger in doc["spec"]["triggers"]:
                    if trigger.get("type") == "postgresql":
                        print(trigger["metadata"]["query"])
                        return
    problem(directory, "no ScaledObject with a postgresql trigger")


def seconds(text):
    """A systemd time span (75, 75s, 1min 15s) or a compose duration (75s, 1m15s) in seconds."""
    units = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "ms": 0.001}
    total, text = 0.0, str(text).replace(" ", "")
    for value, unit in re.findall(r"(\d+(?:\.\d+)?)([a-z]*)", text):
        if unit not in units:
            raise ValueError(f"unknown time unit in {text!r}")
        total += float(value) * units[unit]
    return total


def bounds(deploy):
    deploy = pathlib.Path(deploy)
    unit = (deploy / "systemd" / "encours-worker@.service").read_text(encoding="utf-8")
    stop = re.search(r"^TimeoutStopSec=(.+)$", unit, re.MULTILINE)
    exec_start = re.search(r"^ExecStart=(.+)$", unit, re.MULTILINE).group(1).split()
    grace = grace_seconds(exec_start)
    if "$ENCOURS_WORKER_ARGS" in exec_start:
        example = (deploy / "systemd" / "encours.env.example").read_text(encoding="utf-8")
        match = re.search(r"^ENCOURS_WORKER_ARGS=(.*)$", example, re.MULTILINE)
        grace = grace_seconds(match.group(1).split()) if match else grace
    unit_bound = grace + SHUTDOWN_BEYOND_GRACE
    if not stop or seconds(stop.group(1)) <= unit_bound:
        problem("encours-worker@.service", f"TimeoutStopSec must exceed the worker's shutdown bound {unit_bound:g} s")
    if not re.search(r"^KillSignal=SIGTERM$", unit, re.MULTILINE):
        problem("encours-worker@.service", "KillSignal is not SIGTERM")
    compose = yaml.safe_load((deploy / "docker-compose.yml").read_text(encoding="utf-8"))
    for name, service in compose["services"].items():
        command = service.get("command") or []
        if service.get("entrypoint") or "--metrics-port" not in command:
            continue
        bound = grace_seconds(command) + SHUTDOWN_BEYOND_GRACE
        period = seconds(service.get("stop_grace_period", "10s"))
        if period <= bound:
            problem(f"docker-compose.yml {name}", f"stop_grace_period {period:g} s is not above the shutdown bound {bound:g} s")
    print(f"worker shutdown bound {unit_bound:g} s; systemd TimeoutStopSec {seconds(stop.group(1)) if stop else 0:g} s")


def compose_file(path):
    compose = yaml.safe_load(pathlib.Path(path).read_text(encoding="utf-8"))
    services = compose.get("services", {})
    workers = [name for name, s in services.items()
               if not s.get("entrypoint") and "--metrics-port" in (s.get("command") or [])]
    if len(workers) < 2:
        problem(path, f"expected two worker services with --metrics-port, found {workers}")
    if "migrate" not in services or services["migrate"].get("command") != ["migrate"]:
        problem(path, "no migrate service running `encours migrate`")
    if not any("postgres:16" in str(s.get("image", "")) for s in services.values()):
        problem(path, "no postgres:16 service")
    host_ports = []
    for name in workers:
        service = services[name]
        condition = service.get("depends_on", {}).get("migrate", {}).get("condition")
        if condition != "service_completed_successfully":
            problem(path, f"{name} does not wait for migrate with service_completed_successfully")
        if "healthcheck" not in service:
            problem(path, f"{name} has no healthcheck")
        smtp = str(service.get("environment", {}).get("ENCOURS_SMTP_URL", ""))
        host = re.sub(r"^smtps?://(?:[^@/]*@)?([^:/?]+).*$", r"\1", smtp)
        if host not in services:
            problem(path, f"{name} sends mail to {host!r}, which is no service here")
        host_ports += [str(port).rsplit(":", 1)[0] for port in service.get("ports", [])]
    if len(host_ports) != len(set(host_ports)):
        problem(path, f"workers publish the same host port twice: {host_ports}")
    print(f"workers {', '.join(workers)}")


def main(argv):
    commands = {"kubernetes": kubernetes, "keda-query": keda_query, "bounds": bounds, "compose": compose_file}
    if len(argv) < 3 or argv[1] not in commands:
        print(__doc__, file=sys.stderr)
        return 2
    commands[argv[1]](*argv[2:])
    for line in problems:
        print(line, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
