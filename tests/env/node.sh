# A node beside the test environment's API server (tests/env/up --node): containerd + runc, kubelet,
# kube-controller-manager, kube-scheduler and kube-proxy. Sourced by up and down, not run.
#
# Host changes, all undone by node_stop (tests/env/down):
#   - a bridge of its own (kseal<id>) with a /24 pod subnet; the API server and moto listen on its
#     gateway address; pods have routes only to the pod and service subnets; IP forwarding stays off;
#   - kube-proxy's nftables tables (`ip kube-proxy`, `ip6 kube-proxy`: names fixed by kube-proxy, so
#     one node at a time per host, guarded by the lock directory /run/kseal-node.lock); no iptables rules;
#   - cgroups /kseal-<id> in every cgroup v1 hierarchy (kubelet's cgroupRoot; containerd and its
#     shims in pids:/kseal-<id>/runtime, so that down finds every process the node started);
#   - the sysctls the kubelet sets (vm.overcommit_memory, kernel.panic, ...), restored to the values
#     recorded before it started;
#   - mounts (containerd's rootfs and network namespaces, kubelet volumes), all under the state dir;
#   - files the components write at fixed host paths (NODE_HOST_DIRS): directories that did not exist
#     before are removed; in ones that did, the node's log symlinks and CNI results.
# shellcheck shell=bash

NODE_PACKAGES=(containerd runc containernetworking-plugins nftables)
NODE_LOCK=/run/kseal-node.lock
CNI_BIN_DIR=/usr/lib/cni
SERVICE_CIDR=10.96.0.0/16
SERVICE_IP=10.96.0.1
# Sysctls the kubelet (setupKernelTunables) and kube-proxy may set.
NODE_SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward net.netfilter.nf_conntrack_max)
# Host paths the components write to whatever their configuration.
# (kubelet: /var/log/containers symlinks, its device-plugin socket; CNI: result cache; containerd 1.6:
# shim sockets; libmount: utab). Created by the node: removed by down; there before: only the node's
# own entries are removed.
NODE_HOST_DIRS=(/var/log/containers /var/lib/kubelet /var/lib/cni /run/containerd /run/mount /var/run/netns)

# Installs the Debian packages of the node when one is missing (needs root and apt).
node_packages() {
  local missing=() p
  for p in "${NODE_PACKAGES[@]}"; do
    dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get"
  log "installing ${missing[*]} (apt-get)"
  # No systemd here: nothing is started by the packages.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
    { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; } ||
    die "apt-get install ${missing[*]} failed"
}

# node_prepare DIR: takes the host lock, picks names and the subnet, creates the bridge; appends the
# node's variables to DIR/ports. Runs before the API server starts (it listens on the bridge).
node_prepare() {
  local dir=$1 id third subnet
  [[ $(id -u) == 0 ]] || die "a node needs root (containerd, kubelet, bridge, nftables)"
  node_packages
  mkdir -p "$dir/node"
  # One node per host (kube-proxy's table names are fixed): wait for another one to stop.
  local owner waited=0
  until mkdir "$NODE_LOCK" 2>/dev/null; do
    owner=$(cat "$NODE_LOCK/owner" 2>/dev/null || true)
    if [[ -n $owner && ! -d $owner ]]; then
      log "taking over the stale node lock of $owner (its state directory is gone)"
      rm -rf "$NODE_LOCK"
      continue
    fi
    ((waited % 30 == 0)) && log "waiting for the node of ${owner:-another environment} to stop (one node per host)"
    ((waited < ${KSEAL_NODE_LOCK_TIMEOUT:-1800})) || die "another node runs on this host ($owner); tests/env/down --dir $owner"
    sleep 1
    waited=$((waited + 1))
  done
  echo "$dir" >"$NODE_LOCK/owner"
  echo "$NODE_LOCK" >"$dir/node/lock"
  if nft list table ip kube-proxy >/dev/null 2>&1 || nft list table ip6 kube-proxy >/dev/null 2>&1; then
    die "nftables table kube-proxy exists already (another kube-proxy?): not touching it"
  fi
  # From here on kube-proxy's tables are this node's: down deletes them.
  touch "$dir/node/nft"

  id=$(openssl rand -hex 3)
  for third in $(shuf -i 0-255 -n 32); do
    subnet=10.123.$third.0/24
    # Free: no route but the default one leads there, and no address of the host is in it.
    if [[ -z $(ip -4 route show to match "10.123.$third.1" | grep -v '^default') ]] &&
      ! ip -4 addr | grep -q "inet 10\.123\.$third\."; then
      break
    fi
    subnet=""
  done
  [[ -n $subnet ]] || die "no free 10.123.x.0/24 subnet"
  cat >>"$dir/ports" <<PORTS
NODE_ID=$id
NODE_NAME=kseal-node-$id
NODE_BRIDGE=kseal$id
NODE_SUBNET=$subnet
NODE_GATEWAY=10.123.$third.1
NODE_CGROUP=kseal-$id
APISERVER_ADDRESS=10.123.$third.1
MOTO_ADDRESS=10.123.$third.1
KUBELET_PORT=$(free_port)
KUBELET_HEALTHZ_PORT=$(free_port)
KCM_PORT=$(free_port)
SCHEDULER_PORT=$(free_port)
PROXY_METRICS_PORT=$(free_port)
PROXY_HEALTHZ_PORT=$(free_port)
PORTS
  # shellcheck source=/dev/null
  . "$dir/ports"

  # What down restores or removes.
  local s d
  for s in "${NODE_SYSCTLS[@]}"; do
    [[ -e /proc/sys/${s//.//} ]] && echo "$s=$(sysctl -n "$s")"
  done >"$dir/node/sysctls"
  for d in "${NODE_HOST_DIRS[@]}"; do
    [[ -e $d ]] || echo "$d"
  done >"$dir/node/created-dirs"

  ip link add name "$NODE_BRIDGE" type bridge
  echo "$NODE_BRIDGE" >"$dir/node/bridge"
  ip addr add "$NODE_GATEWAY/24" dev "$NODE_BRIDGE"
  ip link set "$NODE_BRIDGE" up
  # The gateway address answers at once (no duplicate address detection for IPv4); the API server binds it.
}

# node_pki DIR: certificates of the node's components (the API server's own is issued by up).
node_pki() {
  local dir=$1 pki=$1/pki client="basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth"
  issue_cert "$pki" kubelet "$(client_subject "system:node:$NODE_NAME" system:nodes)" "$client"
  issue_cert "$pki" kubelet-serving "/CN=$NODE_NAME" \
    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:$NODE_GATEWAY,DNS:$NODE_NAME"
  issue_cert "$pki" kube-controller-manager "$(client_subject system:kube-controller-manager)" "$client"
  issue_cert "$pki" kube-scheduler "$(client_subject system:kube-scheduler)" "$client"
  issue_cert "$pki" kube-proxy "$(client_subject system:kube-proxy)" "$client"
  local c
  for c in kubelet kube-controller-manager kube-scheduler kube-proxy; do
    write_kubeconfig "$dir/node/$c.kubeconfig" "https://$APISERVER_ADDRESS:$APISERVER_PORT" \
      "$pki/ca.crt" "$pki/$c.crt" "$pki/$c.key" "$c"
  done
}

# Every v1 hierarchy's directory of the node's cgroup.
node_cgroup_dirs() {
  local h
  for h in /sys/fs/cgroup/*/; do
    [[ -d $h$NODE_CGROUP ]] && echo "$h$NODE_CGROUP"
  done
}

node_make_cgroups() {
  local h
  for h in /sys/fs/cgroup/*/; do
    [[ -e ${h}cgroup.procs && ! -e ${h}cgroup.controllers ]] || continue # v1 hierarchies only
    mkdir -p "$h$NODE_CGROUP/runtime"
    if [[ -e ${h}cpuset.cpus ]]; then
      cat "${h}cpuset.cpus" >"$h$NODE_CGROUP/cpuset.cpus"
      cat "${h}cpuset.mems" >"$h$NODE_CGROUP/cpuset.mems"
      cat "${h}cpuset.cpus" >"$h$NODE_CGROUP/runtime/cpuset.cpus"
      cat "${h}cpuset.mems" >"$h$NODE_CGROUP/runtime/cpuset.mems"
    fi
  done
  [[ -d /sys/fs/cgroup/pids/$NODE_CGROUP ]] || die "no cgroup v1 pids hierarchy (this environment expects cgroup v1)"
}

node_write_configs() {
  local dir=$1 n=$1/node pki=$1/pki
  mkdir -p "$n/containerd" "$n/cni/net.d" "$n/cni/ipam" "$n/kubelet" "$n/pod-logs"
  cat >"$n/containerd/config.toml" <<TOML
version = 2
root = "$n/containerd/root"
state = "$n/containerd/state"
oom_score = 0
# Only what the CRI needs: no other snapshotters, no tracing, no stream over TCP.
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "$n/containerd.sock"

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "$n/containerd/opt"
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "kseal.invalid/pause:$KUBERNETES_VERSION"
    # Root here may lack CAP_SYS_RESOURCE: without this every sandbox fails with
    # "can't get final child's PID from pipe: EOF".
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    enable_tls_streaming = false
    disable_tcp_service = true
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "$CNI_BIN_DIR"
      conf_dir = "$n/cni/net.d"
      max_conf_num = 1
    [plugins."io.containerd.grpc.v1.cri".containerd]
      default_runtime_name = "runc"
      snapshotter = "overlayfs"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
          Root = "$n/runc"
    [plugins."io.containerd.grpc.v1.cri".registry]
      config_path = "$n/containerd/certs.d"
TOML
  # The bridge exists already (node_prepare) with the gateway address: the plugin only attaches pods,
  # it neither sets addresses on the bridge nor turns on IP forwarding (isGateway: false).
  cat >"$n/cni/net.d/10-kseal.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "kseal-$NODE_ID",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$NODE_BRIDGE",
      "isGateway": false,
      "isDefaultGateway": false,
      "ipMasq": false,
      "hairpinMode": false,
      "ipam": {
        "type": "host-local",
        "dataDir": "$n/cni/ipam",
        "ranges": [[{"subnet": "$NODE_SUBNET", "rangeStart": "${NODE_GATEWAY%.1}.10", "gateway": "$NODE_GATEWAY"}]],
        "routes": [{"dst": "$SERVICE_CIDR"}]
      }
    }
  ]
}
JSON
  cat >"$n/kubelet/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_GATEWAY
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
tlsCertFile: $pki/kubelet-serving.crt
tlsPrivateKeyFile: $pki/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: AlwaysAllow}
containerRuntimeEndpoint: unix://$n/containerd.sock
cgroupDriver: cgroupfs
cgroupRoot: /$NODE_CGROUP
cgroupsPerQOS: true
# Root here may lack CAP_SYS_RESOURCE (see containerd's restrict_oom_score_adj).
oomScoreAdj: 0
failSwapOn: false
makeIPTablesUtilChains: false
hairpinMode: none
resolvConf: ""
podLogsDir: $n/pod-logs
registerNode: true
maxPods: 50
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi}
evictionPressureTransitionPeriod: 10s
nodeStatusUpdateFrequency: 5s
syncFrequency: 10s
fileCheckFrequency: 10s
YAML
  cat >"$n/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
clientConnection: {kubeconfig: $n/kube-proxy.kubeconfig}
hostnameOverride: $NODE_NAME
clusterCIDR: $NODE_SUBNET
bindAddress: $NODE_GATEWAY
metricsBindAddress: 127.0.0.1:$PROXY_METRICS_PORT
healthzBindAddress: 127.0.0.1:$PROXY_HEALTHZ_PORT
nodePortAddresses: [$NODE_GATEWAY/32]
# 0: leave the host's conntrack sysctls alone.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s, udpTimeout: 0s, udpStreamTimeout: 0s}
YAML
}

# node_image_import DIR ARCHIVE: imports a `docker save` archive into the node's containerd.
node_image_import() {
  ctr --address "$1/node/containerd.sock" -n k8s.io images import "$2" >&2
}

node_start_containerd() {
  local dir=$1 n=$1/node
  # In pids:/kseal-<id>/runtime: the shims and containers it starts stay in that subtree.
  setsid bash -c 'echo $$ >"$1/cgroup.procs"; shift; exec "$@"' containerd \
    "/sys/fs/cgroup/pids/$NODE_CGROUP/runtime" containerd --config "$n/containerd/config.toml" \
    </dev/null >>"$dir/logs/containerd.log" 2>&1 &
  echo $! >"$dir/containerd.pid"
  wait_until 60 containerd ctr --address "$n/containerd.sock" version ||
    { tail -n 30 "$dir/logs/containerd.log" >&2; die "containerd did not start"; }
}

# The sandbox image: Kubernetes' pause program, statically linked, as user 65535.
node_pause_image() {
  local dir=$1
  python3 "$ENV_DIR/image.py" --out "$dir/node/pause.tar" --tag "kseal.invalid/pause:$KUBERNETES_VERSION" \
    --user 65535:65535 --entrypoint /pause --file "$PAUSE=/pause:755"
  node_image_import "$dir" "$dir/node/pause.tar"
}

node_start_control() {
  local dir=$1 n=$1/node pki=$1/pki
  setsid "$KUBE_CONTROLLER_MANAGER" --kubeconfig "$n/kube-controller-manager.kubeconfig" \
    --authentication-kubeconfig "$n/kube-controller-manager.kubeconfig" \
    --authorization-kubeconfig "$n/kube-controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$KCM_PORT" --leader-elect=false \
    --use-service-account-credentials --root-ca-file "$pki/ca.crt" \
    --service-account-private-key-file "$pki/sa.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" --allocate-node-cidrs=false \
    --profiling=false -v 1 </dev/null >>"$dir/logs/kube-controller-manager.log" 2>&1 &
  echo $! >"$dir/kube-controller-manager.pid"
  setsid "$KUBE_SCHEDULER" --kubeconfig "$n/kube-scheduler.kubeconfig" \
    --authentication-kubeconfig "$n/kube-scheduler.kubeconfig" \
    --authorization-kubeconfig "$n/kube-scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$SCHEDULER_PORT" --leader-elect=false \
    --profiling=false -v 1 </dev/null >>"$dir/logs/kube-scheduler.log" 2>&1 &
  echo $! >"$dir/kube-scheduler.pid"
}

node_start_kubelet() {
  local dir=$1 n=$1/node
  setsid "$KUBELET" --config "$n/kubelet/config.yaml" --kubeconfig "$n/kubelet.kubeconfig" \
    --root-dir "$n/kubelet" --cert-dir "$n/kubelet/pki" --hostname-override "$NODE_NAME" \
    --node-ip "$NODE_GATEWAY" -v 1 </dev/null >>"$dir/logs/kubelet.log" 2>&1 &
  echo $! >"$dir/kubelet.pid"
  setsid "$KUBE_PROXY" --config "$n/kube-proxy.yaml" -v 1 \
    </dev/null >>"$dir/logs/kube-proxy.log" 2>&1 &
  echo $! >"$dir/kube-proxy.pid"
}

# node_wait_ready DIR: the node Ready, kube-proxy's rules in place.
node_wait_ready() {
  local dir=$1 pki=$1/pki api="https://$APISERVER_ADDRESS:$APISERVER_PORT"
  node_ready() {
    curl -fsS --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
      "$api/api/v1/nodes/$NODE_NAME" |
      python3 -c 'import json,sys; c={x["type"]:x["status"] for x in json.load(sys.stdin)["status"]["conditions"]}; sys.exit(c.get("Ready")!="True")'
  }
  wait_until 120 node node_ready ||
    { tail -n 30 "$dir/logs/kubelet.log" >&2; die "node $NODE_NAME did not become Ready"; }
  wait_until 60 kube-proxy curl -fsS "http://127.0.0.1:$PROXY_HEALTHZ_PORT/healthz" ||
    { tail -n 30 "$dir/logs/kube-proxy.log" >&2; die "kube-proxy did not become healthy"; }
}

node_start() {
  local dir=$1
  node_pki "$dir"
  node_make_cgroups
  node_write_configs "$dir"
  node_start_containerd "$dir"
  node_pause_image "$dir"
  node_start_control "$dir"
  node_start_kubelet "$dir"
  node_wait_ready "$dir"
}

# Every pid in the node's pids cgroup subtree (containerd, shims, containers).
node_cgroup_pids() {
  local d=/sys/fs/cgroup/pids/$NODE_CGROUP
  [[ -d $d ]] || return 0
  find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null
}

# node_stop DIR: undoes everything node_prepare and node_start did. Safe to run twice, and after a
# failed start. Called as `node_stop DIR || ...`: every step runs even when one fails.
node_stop() {
  local dir=$1 n=$1/node pid i
  [[ -d $n ]] || return 0
  # shellcheck source=/dev/null
  . "$dir/ports"
  stop_pidfile "$dir/kubelet.pid"
  stop_pidfile "$dir/kube-proxy.pid"
  stop_pidfile "$dir/kube-scheduler.pid"
  stop_pidfile "$dir/kube-controller-manager.pid"
  if [[ -n ${NODE_CGROUP:-} ]]; then
    stop_pidfile "$dir/containerd.pid"
    # Containers and shims: everything left in the node's cgroups.
    for i in $(seq 100); do
      local pids
      pids=$(node_cgroup_pids)
      [[ -z $pids ]] && break
      for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
      sleep 0.1
    done
  fi
  # Mounts under the state directory (container rootfs, network namespaces, volumes), deepest first.
  local m
  { awk '{print $5}' /proc/self/mountinfo | grep -F "$n/" || true; } | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  if [[ -n ${NODE_CGROUP:-} ]]; then
    local h
    for h in /sys/fs/cgroup/*/; do
      [[ -d $h$NODE_CGROUP ]] && find "$h$NODE_CGROUP" -depth -type d -exec rmdir {} + 2>/dev/null
      [[ -d $h$NODE_CGROUP ]] && log "warning: cgroup $h$NODE_CGROUP could not be removed"
    done
  fi
  if [[ -f $n/nft ]]; then
    # Ours (node_prepare checked that they did not exist before).
    nft delete table ip kube-proxy 2>/dev/null || true
    nft delete table ip6 kube-proxy 2>/dev/null || true
  fi
  if [[ -f $n/bridge ]]; then
    ip link del "$(<"$n/bridge")" 2>/dev/null || true
  fi
  if [[ -f $n/sysctls ]]; then
    local line
    while read -r line; do
      [[ $(sysctl -n "${line%%=*}") == "${line#*=}" ]] || sysctl -q -w "$line" >/dev/null || log "warning: could not restore $line"
    done <"$n/sysctls"
  fi
  # Files at fixed host paths: the kubelet's log symlinks into this node, the CNI cache of its network.
  if [[ -d /var/log/containers ]]; then
    find /var/log/containers -maxdepth 1 -type l -lname "$n/*" -delete 2>/dev/null || true
  fi
  if [[ -n ${NODE_ID:-} && -d /var/lib/cni ]]; then
    find /var/lib/cni -maxdepth 2 -name "kseal-$NODE_ID-*" -delete 2>/dev/null || true
  fi
  if [[ -f $n/created-dirs ]]; then
    local d
    while read -r d; do
      # Fixed paths only (never a path read from elsewhere), created after node_prepare checked.
      case $d in
        /var/log/containers | /var/lib/kubelet | /var/lib/cni | /run/containerd | /run/mount | /var/run/netns) rm -rf "$d" ;;
      esac
    done <"$n/created-dirs"
  fi
  if [[ -f $n/lock && $(cat "$NODE_LOCK/owner" 2>/dev/null) == "$dir" ]]; then
    rm -rf "$NODE_LOCK"
  fi
  rm -f "$n/lock" "$n/nft" "$n/bridge" "$n/sysctls"
}
