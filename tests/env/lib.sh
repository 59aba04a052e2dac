# Shared helpers for the tests/env scripts. Sourced, not run.
# shellcheck shell=bash

ENV_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$ENV_DIR/../.." && pwd)
# shellcheck source=versions
. "$ENV_DIR/versions"

CACHE=${KSEAL_CACHE:-$HOME/.cache/kseal}
BIN="$CACHE/bin"
KUBE_APISERVER="$BIN/kube-apiserver-$KUBERNETES_VERSION"
ETCD="$BIN/etcd-$ETCD_VERSION"
HELM="$BIN/helm-$HELM_VERSION"
KUBECONFORM="$BIN/kubeconform-$KUBECONFORM_VERSION"
KUBESEAL="$BIN/kubeseal-$KUBESEAL_VERSION"
SEALED_SECRETS_CONTROLLER="$BIN/sealed-secrets-controller-$KUBESEAL_VERSION"
# The External Secrets Operator, the peer of the sync differential (tests/eso); not in the default build.
ESO="$BIN/external-secrets-$ESO_VERSION"
MOTO_VENV="$CACHE/moto-$MOTO_VERSION"
# Node components (tests/env/node), from tests/go/node.
KUBELET="$BIN/kubelet-$KUBERNETES_VERSION"
KUBE_CONTROLLER_MANAGER="$BIN/kube-controller-manager-$KUBERNETES_VERSION"
KUBE_SCHEDULER="$BIN/kube-scheduler-$KUBERNETES_VERSION"
KUBE_PROXY="$BIN/kube-proxy-$KUBERNETES_VERSION"
PAUSE="$BIN/pause-$KUBERNETES_VERSION"
# The template oracle has no release version: its binary is keyed by a hash of its module's files,
# so any change to tests/go/tmpl-oracle rebuilds it.
TMPL_ORACLE="$BIN/tmpl-oracle-$(cat "$REPO_DIR"/tests/go/tmpl-oracle/go.mod "$REPO_DIR"/tests/go/tmpl-oracle/go.sum \
  "$REPO_DIR"/tests/go/tmpl-oracle/*.go | sha256sum | cut -c1-12)"

# The PromQL evaluator of the monitoring tests: keyed by the prometheus module version and a hash of its
# module's files, so any change to tests/go/promql-eval rebuilds it.
PROMQL_EVAL="$BIN/promql-eval-$PROMETHEUS_VERSION-$(cat "$REPO_DIR"/tests/go/promql-eval/go.mod "$REPO_DIR"/tests/go/promql-eval/go.sum \
  "$REPO_DIR"/tests/go/promql-eval/*.go | sha256sum | cut -c1-12)"

log() { printf '[kseal-env] %s\n' "$*" >&2; }
die() { printf '[kseal-env] error: %s\n' "$*" >&2; exit 1; }

# Prints a TCP port on 127.0.0.1 that was free a moment ago.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND until it succeeds.
wait_until() {
  local timeout=$1 what=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      return 1
    fi
    sleep 0.2
  done
}

# True while PID runs (a zombie left for a parent that does not reap counts as gone).
alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z ]]
}

# Stops the process whose pid is in FILE (TERM, then KILL after a grace time).
stop_pidfile() {
  local file=$1 pid
  [[ -f $file ]] || return 0
  pid=$(<"$file")
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 10))
    while alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    while alive "$pid"; do sleep 0.05; done
  fi
  rm -f "$file"
}
