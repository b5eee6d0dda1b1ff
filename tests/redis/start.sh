#!/usr/bin/env bash
# Starts, on loopback and free ports, a 3-node Redis Cluster and a TLS-only Redis (CA and server
# certificate for 127.0.0.1 made here with openssl), each in its own temporary directory.
#
#   eval "$(bash tests/redis/start.sh)"     # exports the test URLs and DROPLINE_TEST_REDIS_DIR
#   cargo test --test api cluster
#   bash tests/redis/stop.sh                # stops every server by the PID it recorded
#
# Prints only `export` lines on stdout; progress goes to stderr. On any failure it stops what
# it started and exits non-zero.
set -euo pipefail

dir=$(mktemp -d "${TMPDIR:-/tmp}/dropline-redis.XXXXXX")
stop() { bash "$(dirname "$0")/stop.sh" "$dir" >&2 || true; }
trap 'stop' ERR

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# A cluster node also listens on its port + 10000 (the cluster bus), so both must be free and
# the port at most 55535; the kernel's ephemeral ports reach higher. Ports in $taken are skipped.
taken=""
free_cluster_port() {
  python3 - "$taken" <<'PY'
import random, socket, sys
taken = {int(p) for p in sys.argv[1].split()}
for _ in range(200):
    port = random.randint(20000, 45000)
    if port in taken or port + 10000 in taken or port - 10000 in taken:
        continue
    socks = []
    try:
        for p in (port, port + 10000):
            s = socket.socket()
            s.bind(("127.0.0.1", p))
            socks.append(s)
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(port)
    break
else:
    sys.exit("no free port pair for a cluster node")
PY
}

wait_until() { # description, command...
  local what=$1; shift
  for _ in $(seq 1 100); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "redis: $what did not happen in 10 s" >&2
  return 1
}

# --- the cluster: three masters, no replicas --------------------------------------------
nodes=()
for i in 1 2 3; do
  port=$(free_cluster_port)
  taken="$taken $port"
  node="$dir/cluster-$i"
  mkdir -p "$node"
  cat >"$node/redis.conf" <<CONF
bind 127.0.0.1
port $port
dir $node
cluster-enabled yes
cluster-config-file $node/nodes.conf
cluster-node-timeout 2000
save ""
appendonly no
daemonize no
CONF
  redis-server "$node/redis.conf" >"$node/log" 2>&1 &
  echo $! >"$dir/pid.cluster-$i"
  nodes+=("127.0.0.1:$port")
done
for n in "${nodes[@]}"; do
  wait_until "node $n answers" sh -c "redis-cli -h 127.0.0.1 -p ${n#*:} ping | grep -q PONG"
done
redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$dir/cluster-create.log" 2>&1
for n in "${nodes[@]}"; do
  wait_until "cluster_state:ok on $n" sh -c "redis-cli -h 127.0.0.1 -p ${n#*:} cluster info | grep -q cluster_state:ok"
done
echo "redis: cluster ${nodes[*]} is ok" >&2

# --- TLS only -------------------------------------------------------------------------------
tls="$dir/tls"
mkdir -p "$tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=dropline test CA" \
  -keyout "$tls/ca.key" -out "$tls/ca.crt" >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$tls/server.key" -out "$tls/server.csr" >/dev/null 2>&1
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >"$tls/ext.cnf"
openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial \
  -days 2 -extfile "$tls/ext.cnf" -out "$tls/server.crt" >/dev/null 2>&1
chmod 600 "$tls"/*.key
tls_port=$(free_port)
redis-server --bind 127.0.0.1 --port 0 --tls-port "$tls_port" \
  --tls-cert-file "$tls/server.crt" --tls-key-file "$tls/server.key" \
  --tls-ca-cert-file "$tls/ca.crt" --tls-auth-clients no \
  --save "" --appendonly no --dir "$tls" >"$tls/log" 2>&1 &
echo $! >"$dir/pid.tls"
wait_until "TLS Redis on $tls_port answers" sh -c "redis-cli --tls --cacert '$tls/ca.crt' -h 127.0.0.1 -p $tls_port ping | grep -q PONG"
echo "redis: TLS-only Redis on 127.0.0.1:$tls_port is ok" >&2

trap - ERR
cluster_url=$(printf 'redis://%s,' "${nodes[@]}")
echo "export DROPLINE_TEST_REDIS_DIR='$dir'"
echo "export DROPLINE_TEST_REDIS_CLUSTER_URL='${cluster_url%,}'"
echo "export DROPLINE_TEST_REDIS_TLS_URL='rediss://127.0.0.1:$tls_port/'"
echo "export DROPLINE_TEST_REDIS_CA_FILE='$tls/ca.crt'"
