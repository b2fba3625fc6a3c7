#!/usr/bin/env bash
# A throw-away S3 server for the tests: a one-node Ceph cluster (one monitor, one memstore OSD,
# no cephx, pool size 1) and radosgw on 127.0.0.1, all state under one folder.
#   scripts/s3-server.sh start DIR [PORT]   start; prints the environment for clients (eval it)
#   scripts/s3-server.sh stop DIR           stop exactly the daemons started for DIR, remove DIR
#   scripts/s3-server.sh rgw-stop|rgw-start DIR   stop or restart only radosgw (outage tests)
# Needs ceph-mon ceph-osd radosgw ceph-common (scripts/setup.sh installs them).
set -euo pipefail
cmd=${1:?usage: s3-server.sh start|stop DIR [PORT]}
dir=${2:?usage: s3-server.sh start|stop DIR [PORT]}
port=${3:-7480}
addr=${CAIRN_S3_ADDR:-127.0.0.1}  # where radosgw listens (the cluster tests use their bridge's)
access_key=cairn-test-access
secret_key=cairn-test-secret

stop() {
  [ -d "$dir" ] || return 0
  for pidfile in "$dir"/run/*.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
  done
  for pidfile in "$dir"/run/*.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$dir"
}

start() {
  stop
  mkdir -p "$dir"/{mon,osd,run,log,tmp}
  dir=$(cd "$dir" && pwd)
  local fsid mon_port
  fsid=$(cat /proc/sys/kernel/random/uuid)
  mon_port=$((port + 1))
  cat > "$dir/ceph.conf" <<CONF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
keyring = /dev/null
ms bind msgr1 = false
ms bind ipv6 = false
ms mon client mode = crc
ms client mode = crc
ms cluster mode = crc
ms service mode = crc
run dir = $dir/run
pid file = $dir/run/\$name.pid
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
tmp dir = $dir/tmp
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon data avail warn = 1
mon data avail crit = 0
paxos propose interval = 0.1
[mon]
mon data = $dir/mon/\$name
[osd]
osd data = $dir/osd/\$name
osd objectstore = memstore
memstore device bytes = ${CAIRN_S3_MEMORY_BYTES:-6442450944}
osd op num shards = 1
osd op num threads per shard = 2
[client.rgw]
rgw frontends = beast endpoint=$addr:$port tcp_nodelay=1
rgw dns name = $addr
rgw gc obj min wait = 5
rgw gc processor period = 5
# Server-side encryption as AWS S3 offers it (the SageMaker SDK uploads with aws:kms): RGW's
# "testing" KMS with one fixed key (a test server only), allowed over plain HTTP on 127.0.0.1.
rgw crypt require ssl = false
rgw crypt s3 kms backend = testing
rgw crypt s3 kms encryption keys = cairn-test-key=$(head -c 32 /dev/zero | tr '\0' 'k' | base64)
rgw crypt default encryption key = $(head -c 32 /dev/zero | tr '\0' 'd' | base64)
CONF
  local c="$dir/ceph.conf"
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$dir/monmap" >/dev/null
  ceph-mon -c "$c" -i a --mkfs --monmap "$dir/monmap" </dev/null >"$dir/log/mkfs.log" 2>&1
  ceph-mon -c "$c" -i a </dev/null >>"$dir/log/daemons.log" 2>&1
  local uuid
  uuid=$(cat /proc/sys/kernel/random/uuid)
  timeout 30 ceph -c "$c" osd new "$uuid" </dev/null >/dev/null
  mkdir -p "$dir/osd/osd.0"
  ceph-osd -c "$c" -i 0 --mkfs --osd-uuid "$uuid" </dev/null >>"$dir/log/mkfs.log" 2>&1
  ceph-osd -c "$c" -i 0 </dev/null >>"$dir/log/daemons.log" 2>&1
  for _ in $(seq 300); do
    timeout 10 ceph -c "$c" osd dump 2>/dev/null | grep -q '^osd.0 up' && break
    sleep 0.1
  done
  radosgw -c "$c" -n client.rgw </dev/null >>"$dir/log/daemons.log" 2>&1
  for _ in $(seq 600); do
    curl -s -o /dev/null "http://$addr:$port/" && break
    sleep 0.1
  done
  curl -s -o /dev/null "http://$addr:$port/" || { echo "s3-server: radosgw did not start; logs in $dir/log" >&2; exit 1; }
  timeout 60 radosgw-admin -c "$c" -n client.admin user create --uid cairn --display-name cairn \
    --access-key "$access_key" --secret-key "$secret_key" </dev/null >/dev/null 2>>"$dir/log/admin.log"
  # Buckets named in CAIRN_S3_BUCKETS (space-separated) are created empty.
  for b in ${CAIRN_S3_BUCKETS:-}; do
    curl -sf -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" --user "$access_key:$secret_key" \
      -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
      "http://$addr:$port/$b" >/dev/null || { echo "s3-server: cannot create bucket $b" >&2; exit 1; }
  done
  cat <<ENV
export AWS_ACCESS_KEY_ID=$access_key
export AWS_SECRET_ACCESS_KEY=$secret_key
export AWS_REGION=us-east-1
export AWS_ENDPOINT_URL=http://$addr:$port
export CAIRN_TEST_S3_ENDPOINT=http://$addr:$port
export CAIRN_TEST_S3_KMS_KEY_ID=cairn-test-key
ENV
}

# Stops or starts only radosgw (the cluster keeps its data), to test clients against an outage.
rgw_stop() {
  local pid
  pid=$(cat "$dir/run/client.rgw.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}
rgw_start() {
  port=$(sed -n 's/.*endpoint=[^ ]*:\([0-9]*\).*/\1/p' "$dir/ceph.conf")
  addr=$(sed -n 's/.*endpoint=\([^ ]*\):[0-9]*.*/\1/p' "$dir/ceph.conf")
  radosgw -c "$dir/ceph.conf" -n client.rgw </dev/null >>"$dir/log/daemons.log" 2>&1
  for _ in $(seq 600); do
    curl -s -o /dev/null "http://$addr:$port/" && return 0
    sleep 0.1
  done
  echo "s3-server: radosgw did not restart" >&2
  exit 1
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  rgw-stop) rgw_stop ;;
  rgw-start) rgw_start ;;
  *) echo "usage: s3-server.sh start|stop DIR [PORT]" >&2; exit 2 ;;
esac
