#!/usr/bin/env bash
# A small Slurm cluster on this one machine, for cairn's cluster tests (docs/cluster.md):
#   head     the root network namespace, on bridge cairnbr0 at 10.77.0.1: munged, slurmctld
#            (its own UTS namespace, hostname "head"); the tests start RGW, HAProxy and the cairn
#            servers there too
#   c1, c2   compute hosts: network namespaces cairn-c1 / cairn-c2 at 10.77.0.11 / .12, each
#            with its own hostname and /etc/hosts (ip netns exec mounts /etc/netns/<ns>/hosts),
#            running slurmd
# Every daemon's PID is kept under DIR/run; stop kills exactly those, then the namespaces.
#   scripts/cluster.sh start DIR        start; prints the environment for clients (eval it)
#   scripts/cluster.sh stop DIR         stop what start started, remove namespaces and DIR
#   scripts/cluster.sh kill-host DIR H  kill -9 every process of host H (a host that dies)
#   scripts/cluster.sh start-host DIR H start H's slurmd again and return it to service
#   scripts/cluster.sh cut DIR H | heal DIR H   take H's link down / up (a partition)
#   scripts/cluster.sh exec H CMD...    run a command on host H
# Needs slurmctld slurmd slurm-client munge iproute2 (scripts/setup.sh installs them); root.
set -euo pipefail
cmd=${1:?usage: cluster.sh start|stop|kill-host|start-host|cut|heal DIR [HOST]}
BRIDGE=cairnbr0
HEAD_ADDR=10.77.0.1
HOSTS=(c1 c2)
declare -A ADDR=([c1]=10.77.0.11 [c2]=10.77.0.12)

ns() { echo "cairn-$1"; }

hosts_file() {
  printf '127.0.0.1 localhost\n%s head\n' "$HEAD_ADDR"
  for h in "${HOSTS[@]}"; do printf '%s %s\n' "${ADDR[$h]}" "$h"; done
}

start_slurmd() {
  local dir=$1 h=$2
  mkdir -p "$dir/spool/$h"
  # nsenter, not ip netns exec: that one mounts a fresh /sys, hiding the cgroup tree slurmd needs.
  SLURM_CONF="$dir/slurm.conf" nsenter --net="/run/netns/$(ns "$h")" \
    unshare --uts --mount --propagation private \
    sh -c "hostname $h && mount --bind /etc/netns/$(ns "$h")/hosts /etc/hosts && exec slurmd -D" \
    >"$dir/log/slurmd-$h.out" 2>&1 &
  echo $! >"$dir/run/slurmd-$h.daemon"
}

wait_idle() {
  local dir=$1
  for _ in $(seq 150); do
    if SLURM_CONF="$dir/slurm.conf" sinfo -h -o '%T' 2>/dev/null | grep -qv -E 'idle|mixed|allocated' ||
       [ -z "$(SLURM_CONF="$dir/slurm.conf" sinfo -h -o '%T' 2>/dev/null)" ]; then
      sleep 0.2
    else
      return 0
    fi
  done
  echo "cluster: nodes not idle: $(SLURM_CONF="$dir/slurm.conf" sinfo -h -N -o '%N %T %E' 2>&1)" >&2
  return 1
}

kill_pidfiles() {
  local dir=$1 pattern=$2 pid
  for f in $dir/run/$pattern; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
  done
}

kill_host_processes() {
  local h=$1 pids
  pids=$(ip netns pids "$(ns "$h")" 2>/dev/null || true)
  [ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
}

stop() {
  local dir=$1
  if [ -d "$dir/run" ]; then
    kill_pidfiles "$dir" 'slurmd-*.daemon'
    for h in "${HOSTS[@]}"; do kill_host_processes "$h"; done
    kill_pidfiles "$dir" 'slurmctld.daemon'
    kill_pidfiles "$dir" 'munged.daemon'
  fi
  for h in "${HOSTS[@]}"; do
    ip netns del "$(ns "$h")" 2>/dev/null || true
    rm -rf "/etc/netns/$(ns "$h")"
  done
  ip link del "$BRIDGE" 2>/dev/null || true
  rm -rf "$dir"
}

start() {
  local dir=$1
  if ip link show "$BRIDGE" >/dev/null 2>&1; then
    echo "cluster: $BRIDGE exists: another cluster runs (scripts/cluster.sh stop ITS_DIR)" >&2
    exit 1
  fi
  rm -rf "$dir"
  mkdir -p "$dir"/{run,log,state,spool,munge}
  dir=$(cd "$dir" && pwd)
  ip link add "$BRIDGE" type bridge
  ip addr add "$HEAD_ADDR/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  for h in "${HOSTS[@]}"; do
    local n
    n=$(ns "$h")
    ip netns add "$n"
    ip link add "v-$h" type veth peer name eth0 netns "$n"
    ip link set "v-$h" master "$BRIDGE" up
    ip -n "$n" addr add "${ADDR[$h]}/24" dev eth0
    ip -n "$n" link set eth0 up
    ip -n "$n" link set lo up
    ip -n "$n" route add default via "$HEAD_ADDR"
    mkdir -p "/etc/netns/$n"
    hosts_file >"/etc/netns/$n/hosts"
  done
  # munge: a key of this cluster's own, its socket under DIR.
  head -c 1024 /dev/urandom >"$dir/munge/munge.key"
  chmod 755 "$dir/munge" && chmod 400 "$dir/munge/munge.key"
  munged --foreground --force --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
    --log-file="$dir/log/munged.log" --pid-file="$dir/run/munged.pid" \
    --seed-file="$dir/munge/munged.seed" >"$dir/log/munged.out" 2>&1 &
  echo $! >"$dir/run/munged.daemon"
  local cpus
  cpus=$(nproc)
  cat >"$dir/slurm.conf" <<CONF
ClusterName=cairn
SlurmctldHost=head($HEAD_ADDR)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd-%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
SlurmdTimeout=8
SlurmctldTimeout=10
MessageTimeout=5
MinJobAge=86400
KillWait=5
InactiveLimit=0
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SlurmctldPort=6817
SlurmdPort=6818
NodeName=c1 NodeAddr=${ADDR[c1]} CPUs=$cpus State=UNKNOWN
NodeName=c2 NodeAddr=${ADDR[c2]} CPUs=$cpus State=UNKNOWN
PartitionName=cairn Nodes=c1,c2 Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
  for _ in $(seq 50); do [ -S "$dir/munge/munge.socket" ] && break; sleep 0.1; done
  SLURM_CONF="$dir/slurm.conf" unshare --uts sh -c 'hostname head && exec slurmctld -D -i' \
    >"$dir/log/slurmctld.out" 2>&1 &
  echo $! >"$dir/run/slurmctld.daemon"
  for h in "${HOSTS[@]}"; do start_slurmd "$dir" "$h"; done
  wait_idle "$dir" || { tail -20 "$dir"/log/*.log >&2; exit 1; }
  echo "export SLURM_CONF=$dir/slurm.conf"
  echo "export CAIRN_CLUSTER_DIR=$dir"
  echo "export CAIRN_CLUSTER_HEAD=$HEAD_ADDR"
}

case "$cmd" in
  start) start "${2:?DIR}" ;;
  stop) stop "${2:?DIR}" ;;
  kill-host)
    dir=${2:?DIR}; h=${3:?HOST}
    kill_host_processes "$h"
    rm -f "$dir/run/slurmd-$h.daemon" ;;
  start-host)
    dir=$(cd "${2:?DIR}" && pwd); h=${3:?HOST}
    start_slurmd "$dir" "$h"
    sleep 1
    SLURM_CONF="$dir/slurm.conf" scontrol update nodename="$h" state=resume 2>/dev/null || true
    wait_idle "$dir" ;;
  cut) ip link set "v-${3:?HOST}" down ;;
  heal) ip link set "v-${3:?HOST}" up ;;
  exec) h=${2:?HOST}; shift 2; exec ip netns exec "$(ns "$h")" "$@" ;;
  *) echo "usage: cluster.sh start|stop|kill-host|start-host|cut|heal DIR [HOST]" >&2; exit 2 ;;
esac
