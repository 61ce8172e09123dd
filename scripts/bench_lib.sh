# bench_lib.sh — sourced by scripts/bench.sh and scripts/bench_scale.sh: the
# helpers both use to run servers on free loopback ports (a free port, waiting
# for a server to answer, stopping a process, starting a private redis-server).
# Each script defines track PID, which adds PID to what it stops on exit.

# A port no socket uses in any state (ss: wrk leaves thousands of client
# ports in TIME-WAIT) and nothing answers on.
port_free() {
  [ -z "$(ss -Htan "( sport = :$1 or dport = :$1 )" 2>/dev/null)" ] &&
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port [GAP]: a free port P below the kernel's client-port range (so no
# outgoing connection takes it meanwhile); with GAP, P + GAP is free too.
EPHEMERAL_LO="$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)"
[ "${EPHEMERAL_LO:-0}" -gt 22000 ] || EPHEMERAL_LO=45000
free_port() {
  local gap=${1:-0} p i
  for ((i = 0; i < 200; i++)); do
    p=$((10000 + RANDOM % (EPHEMERAL_LO - 10000 - gap)))
    port_free "$p" && { [ "$gap" = 0 ] || port_free $((p + gap)); } && { echo "$p"; return 0; }
  done
  return 1
}

wait_up() {  # wait_up URL PID: until URL answers 200 (10 s), or PID exits
  local i
  for ((i = 0; i < 100; i++)); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -m 1 "$1")" = 200 ] && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

stop_pid() {  # stop_pid PID: SIGTERM, up to 5 s, then SIGKILL
  local i
  kill -TERM "$1" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do kill -0 "$1" 2>/dev/null || { wait "$1" 2>/dev/null; return 0; }; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null
  wait "$1" 2>/dev/null
}

REDIS_PID=""
start_redis() {  # start_redis PORT DIR: a private redis-server, no persistence; sets REDIS_PID
  # and REDIS_URL, the store URL: over its Unix-domain socket DIR/redis.sock
  # (REDIS_TRANSPORT=unix, the default: a Redis on the same machine, no TCP
  # stack in a cart add's round trips) or over 127.0.0.1:PORT (REDIS_TRANSPORT=tcp,
  # or when the socket's path would not fit in sun_path's 108 bytes)
  local sock="$2/redis.sock"
  if [ "${REDIS_TRANSPORT:-unix}" != unix ] || [ "${#sock}" -gt 100 ]; then sock=""; fi
  redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no \
    ${sock:+--unixsocket "$sock" --unixsocketperm 700} \
    --dir "$2" --daemonize no >"$2/redis.log" 2>&1 </dev/null &
  REDIS_PID=$!
  track "$REDIS_PID"
  REDIS_URL="redis://127.0.0.1:$1"
  [ -n "$sock" ] && REDIS_URL="redis://${sock//\//%2F}"  # the path, '/' as %2F
  local i
  for ((i = 0; i < 50; i++)); do
    redis-cli -p "$1" ping 2>/dev/null | grep -q PONG && return 0
    sleep 0.1
  done
  return 1
}
