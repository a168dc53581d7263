#!/usr/bin/env bash
# Checks the Kubernetes manifests in deploy/kubernetes/ offline (make check-k8s):
#  1. every manifest, and the kustomization's rendered output, against the
#     Kubernetes OpenAPI schemas with kubernetes-validate in strict mode
#     (unknown fields are errors), for the oldest and the newest Kubernetes
#     version checked here;
#  2. what schemas cannot see: the kustomization lists every manifest, each
#     selector matches its pod labels, Service target ports exist in the pods,
#     the StatefulSet has one replica and a volumeClaimTemplate mounted by the
#     coordinator, the workers request nvidia.com/gpu, the CurveZMQ keys and
#     the token come from the Secrets the docs tell you to create;
#  3. that the validator really rejects bad manifests: a few broken copies
#     (wrong type, unknown field, missing required field) must fail.
#
# The validator: the PyPI package kubernetes-validate, pinned below with its
# dependencies, in a venv under .cache/ (git-ignored). It bundles the JSON
# schemas of every Kubernetes version it knows, so no network is needed once it
# is installed (step 1 runs it in an empty network namespace when unshare can
# make one, which proves that).
# Usage: scripts/check_k8s.sh [--venv DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.cache/k8s-venv
while (($#)); do
  case "$1" in
    --venv) venv="$2"; shift ;;
    *) echo "check_k8s: unknown option '$1' (use --venv DIR)" >&2; exit 2 ;;
  esac
  shift
done

# kubernetes-validate and everything it pulls in, pinned.
PINS=(
  kubernetes-validate==1.37.0
  jsonschema==4.26.0 jsonschema-specifications==2025.9.1 referencing==0.37.0
  rpds-py==2026.9.1 attrs==26.1.0 PyYAML==6.0.4 packaging==26.4
  importlib_resources==7.1.0 typing_extensions==4.16.0
)
# Oldest and newest Kubernetes versions the manifests must pass (1.27: the
# first with persistentVolumeClaimRetentionPolicy enabled by default).
K8S_VERSIONS=(1.27.0 1.37.0)
MANIFESTS=(deploy/kubernetes/coordinator.yaml deploy/kubernetes/workers.yaml
           deploy/kubernetes/networkpolicy.yaml)

stamp="$venv/.compsweep-k8s"
if [[ ! -f "$stamp" ]] || ! grep -qxF "${PINS[*]}" "$stamp"; then
  PY=${PYTHON:-/usr/bin/python3}
  [[ -x "$PY" ]] || PY=python3
  if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    # Debian's python3 has venv's pip only with python3-venv.
    "$(dirname "$0")/apt_install.sh" check_k8s python3-venv
  fi
  echo "check_k8s: installing ${PINS[0]} into $venv"
  rm -rf "$venv"
  "$PY" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps "${PINS[@]}"
  "$venv/bin/python" -c 'import kubernetes_validate, jsonschema, yaml'
  echo "${PINS[*]}" > "$stamp"
fi
KV="$venv/bin/kubernetes-validate"

# Offline: an empty network namespace where the kernel allows one (as root
# here and in CI); else run normally.
OFFLINE=()
if unshare -n true 2>/dev/null; then
  OFFLINE=(unshare -n)
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The kustomization's output, without network: kubectl's built-in kustomize
# where kubectl is installed; in every case the same resources concatenated in
# the kustomization's order (its only field is resources, checked below).
"$venv/bin/python" - "$tmp/kustomized.yaml" <<'EOF'
import sys, os, yaml
base = "deploy/kubernetes"
k = yaml.safe_load(open(os.path.join(base, "kustomization.yaml")))
extra = set(k) - {"apiVersion", "kind", "resources"}
if extra:
    sys.exit("check_k8s: kustomization.yaml uses %s; extend scripts/check_k8s.sh to render it"
             % ", ".join(sorted(extra)))
listed = k["resources"]
present = sorted(f for f in os.listdir(base)
                 if f.endswith(".yaml") and f != "kustomization.yaml")
if sorted(listed) != present:
    sys.exit("check_k8s: kustomization.yaml lists %s but the folder has %s" % (listed, present))
with open(sys.argv[1], "w") as out:
    for f in listed:
        out.write("---\n" + open(os.path.join(base, f)).read())
EOF
RENDERED=("$tmp/kustomized.yaml")
if command -v kubectl >/dev/null 2>&1; then
  "${OFFLINE[@]}" kubectl kustomize deploy/kubernetes > "$tmp/kubectl-kustomize.yaml"
  RENDERED+=("$tmp/kubectl-kustomize.yaml")
  echo "check_k8s: kubectl kustomize rendered deploy/kubernetes"
else
  echo "check_k8s: kubectl not installed; validating the resources of kustomization.yaml concatenated"
fi

fail=0
for v in "${K8S_VERSIONS[@]}"; do
  if ! "${OFFLINE[@]}" "$KV" --strict --quiet -k "$v" "${MANIFESTS[@]}" "${RENDERED[@]}"; then
    echo "check_k8s: FAILED schema validation against Kubernetes $v" >&2
    fail=1
  fi
done
((fail == 0)) || exit 1
echo "check_k8s: ${#MANIFESTS[@]} manifests + kustomization output pass kubernetes-validate --strict" \
     "(Kubernetes ${K8S_VERSIONS[*]}, ${OFFLINE[*]:-with network})"

# What the schemas cannot see.
"$venv/bin/python" - "$tmp/kustomized.yaml" <<'EOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
errors = []
def need(cond, msg):
    if not cond:
        errors.append(msg)

def pod_spec(d):
    return d["spec"]["template"]["spec"]

def matches(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())

sts = by.get(("StatefulSet", "compsweep-coordinator"))
workers = by.get(("Deployment", "compsweep-worker"))
svc = by.get(("Service", "compsweep-coordinator"))
need(sts is not None, "no StatefulSet compsweep-coordinator")
need(workers is not None, "no Deployment compsweep-worker")
need(svc is not None, "no Service compsweep-coordinator")
if errors:
    sys.exit("check_k8s: " + "; ".join(errors))

for d in docs:
    if d["kind"] in ("Deployment", "StatefulSet"):
        sel = d["spec"]["selector"]["matchLabels"]
        need(matches(sel, d["spec"]["template"]["metadata"]["labels"]),
             "%s %s: selector does not match its pod labels" % (d["kind"], d["metadata"]["name"]))

# Coordinator: one replica, its claim template mounted, governed by the Service.
need(sts["spec"].get("replicas") == 1, "coordinator StatefulSet must have replicas: 1")
need(sts["spec"].get("serviceName") == "compsweep-coordinator",
     "StatefulSet serviceName must be the Service compsweep-coordinator")
templates = [t["metadata"]["name"] for t in sts["spec"].get("volumeClaimTemplates", [])]
need(templates, "coordinator StatefulSet has no volumeClaimTemplates")
for t in sts["spec"].get("volumeClaimTemplates", []):
    need(t["spec"].get("accessModes") == ["ReadWriteOnce"],
         "claim %s must be ReadWriteOnce (one SQLite writer)" % t["metadata"]["name"])
coord = pod_spec(sts)["containers"][0]
mounts = {m["name"]: m["mountPath"] for m in coord.get("volumeMounts", [])}
volumes = {v["name"] for v in pod_spec(sts).get("volumes", [])} | set(templates)
for m in mounts:
    need(m in volumes, "coordinator mounts %s, which is neither a volume nor a claim template" % m)
db = [a.split("=", 1)[1] for a in coord["args"] if a.startswith("--db=")]
need(db and any(db[0].startswith(mounts.get(t, "//") + "/") for t in templates),
     "coordinator --db %s is not on the claim template's mount" % db)
need(coord["args"][0] == "coordinator", "coordinator container does not run `coordinator`")
env = {e["name"]: e for e in coord.get("env", [])}
need(env.get("COMPSWEEP_TOKEN", {}).get("valueFrom", {}).get("secretKeyRef", {}).get("name")
     == "compsweep-token", "COMPSWEEP_TOKEN must come from the Secret compsweep-token")

# Service: selects the coordinator pod, targets ports the pod has.
need(matches(svc["spec"]["selector"], sts["spec"]["template"]["metadata"]["labels"]),
     "Service compsweep-coordinator does not select the coordinator pod")
pod_ports = {p["name"]: p["containerPort"] for p in coord["ports"]}
for p in svc["spec"]["ports"]:
    need(p["targetPort"] in pod_ports or p["targetPort"] in pod_ports.values(),
         "Service port %s targets %s, which the coordinator does not expose"
         % (p["name"], p["targetPort"]))
    need(pod_ports.get(p["targetPort"], p["targetPort"]) == p["port"],
         "Service port %s: port %s differs from the container port" % (p["name"], p["port"]))

# Workers: a GPU each, connecting to the Service's ZeroMQ port, CURVE keys.
w = pod_spec(workers)["containers"][0]
need(str(w["resources"].get("limits", {}).get("nvidia.com/gpu")) == "1",
     "worker must have limits nvidia.com/gpu: 1")
need(w["args"][0] == "worker", "worker container does not run `worker`")
zmq_port = [p["port"] for p in svc["spec"]["ports"] if p["name"] == "zmq"]
need("--connect=tcp://compsweep-coordinator:%s" % (zmq_port[0] if zmq_port else "?") in w["args"],
     "worker --connect does not point at the Service's zmq port")
need("--device=cuda" in w["args"], "worker must run --device=cuda")

def secret_items(spec, secret):
    for v in spec.get("volumes", []):
        if v.get("secret", {}).get("secretName") == secret:
            return v["name"], {i["path"]: i["key"] for i in v["secret"].get("items", [])}
    return None, {}

def mount_of(container, volume):
    return {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}.get(volume)

for name, spec, container, want in (
        ("coordinator", pod_spec(sts), coord,
         {"--curve-key=": "coordinator.key", "--curve-clients=": "worker.pub"}),
        ("worker", pod_spec(workers), w,
         {"--curve-key=": "worker.key", "--curve-server=": "coordinator.pub"})):
    vol, items = secret_items(spec, "compsweep-curve")
    need(vol is not None, "%s does not mount the Secret compsweep-curve" % name)
    if vol is None:
        continue
    base = mount_of(container, vol)
    for flag, key in want.items():
        arg = [a[len(flag):] for a in container["args"] if a.startswith(flag)]
        need(arg, "%s has no %s" % (name, flag))
        if not arg:
            continue
        # the file (or, for --curve-clients, the folder holding it) from the Secret
        files = {base + "/" + p: k for p, k in items.items()}
        ok = files.get(arg[0]) == key or any(
            f.startswith(arg[0].rstrip("/") + "/") and k == key for f, k in files.items())
        need(ok, "%s %s%s is not the Secret's %s" % (name, flag, arg[0], key))

# NetworkPolicy: only workers on the ZeroMQ port.
np = by.get(("NetworkPolicy", "compsweep-coordinator"))
if np:
    need(matches(np["spec"]["podSelector"]["matchLabels"], sts["spec"]["template"]["metadata"]["labels"]),
         "NetworkPolicy does not select the coordinator pod")
    for rule in np["spec"]["ingress"]:
        if any(p["port"] == 5555 for p in rule.get("ports", [])):
            for f in rule["from"]:
                need(matches(f["podSelector"].get("matchLabels", {"-": "-"}),
                             workers["spec"]["template"]["metadata"]["labels"]),
                     "NetworkPolicy lets non-worker pods reach 5555")

if errors:
    print("\n".join("check_k8s: " + e for e in errors), file=sys.stderr)
    sys.exit(1)
print("check_k8s: cross-references ok (%d resources: %s)"
      % (len(docs), ", ".join("%s/%s" % k for k in by)))
EOF

# The validator must reject broken manifests; if it ever passes one of these,
# the checks above prove nothing.
"$venv/bin/python" - "$tmp" <<'EOF'
import copy, sys, yaml
tmp = sys.argv[1]
docs = [d for d in yaml.safe_load_all(open("deploy/kubernetes/coordinator.yaml")) if d]
sts = next(d for d in docs if d["kind"] == "StatefulSet")
def write(name, mutate):
    d = copy.deepcopy(sts)
    mutate(d)
    with open("%s/broken-%s.yaml" % (tmp, name), "w") as f:
        yaml.safe_dump(d, f)
write("replicas-string", lambda d: d["spec"].__setitem__("replicas", "one"))
write("unknown-field", lambda d: d["spec"].__setitem__("volumeClaimTemplate",
                                                        d["spec"].pop("volumeClaimTemplates")))
write("no-selector", lambda d: d["spec"].pop("selector"))
write("port-string", lambda d: d["spec"]["template"]["spec"]["containers"][0]["ports"][0]
      .__setitem__("containerPort", "zmq"))
EOF
for f in "$tmp"/broken-*.yaml; do
  if "${OFFLINE[@]}" "$KV" --strict --quiet -k "${K8S_VERSIONS[-1]}" "$f" > "$tmp/out" 2>&1; then
    echo "check_k8s: the validator ACCEPTED a broken manifest ($(basename "$f")); it is not validating" >&2
    cat "$f" >&2
    exit 1
  fi
  grep -q . "$tmp/out" || { echo "check_k8s: $(basename "$f") failed without a message" >&2; exit 1; }
done
echo "check_k8s: the validator rejects all $(ls "$tmp"/broken-*.yaml | wc -l) deliberately broken manifests"
echo "check_k8s: OK"
