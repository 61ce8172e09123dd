#!/usr/bin/env bash
# integrations.sh — indicative speed of the server examples: GET /whoami (the
# session is read, its touch throttled) with one live session's cookie, on
# examples/civetweb, the auth service's own pages on libmicrohttpd and
# examples/fcgi behind nginx (examples/fcgi/nginx.conf), memory store.
# Usage: bench/http/integrations.sh BUILD_DIR   (a Release build with the
# examples: cmake -DCMAKE_BUILD_TYPE=Release; needs wrk, curl, nginx)
# Env: DURATION (5s) THREADS (2) CONNS (16).
set -euo pipefail
build=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
ex="$build/examples"
pids=() tmp=$(mktemp -d)
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { # bounded wait until 127.0.0.1:$1 accepts
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done
  echo "nothing listens on $1" >&2; return 1
}
sid() { curl -s -D - -o /dev/null "$1" | grep -o 'sid=[^;]*' | head -n 1; }
run() { # NAME BASE_URL
  wait_port "${2##*:}"
  local c; c=$(sid "$2/")
  printf '%-26s ' "$1"
  wrk -t"${THREADS:-2}" -c"${CONNS:-16}" -d"${DURATION:-5s}" -H "Cookie: $c" "$2/whoami" |
    awk '/Requests\/sec/ { rps = $2 } /Latency/ { lat = $2 } /Non-2xx/ { bad = $NF }
         END { printf "rps=%s mean_latency=%s non2xx=%s\n", rps, lat, bad + 0 }'
}
p1=$(port) p2=$(port) p3=$(port) p4=$(port)
"$ex/civetweb/sessio-civetweb-example" --listen "127.0.0.1:$p1" 2>/dev/null & pids+=($!)
"$ex/auth-request/sessio-auth-service" --listen "127.0.0.1:$p2" 2>/dev/null & pids+=($!)
"$ex/fcgi/sessio-fcgi-example" --listen "127.0.0.1:$p3" 2>/dev/null & pids+=($!)
mkdir -p "$tmp/tmp"; chmod 755 "$tmp"; chmod 777 "$tmp/tmp"
sed "s/127.0.0.1:8080/127.0.0.1:$p4/; s/127.0.0.1:9000/127.0.0.1:$p3/" \
    "$root/examples/fcgi/nginx.conf" > "$tmp/nginx.conf"
nginx -p "$tmp" -c "$tmp/nginx.conf" -e stderr 2>/dev/null & pids+=($!)
run civetweb "http://127.0.0.1:$p1"
run mhd "http://127.0.0.1:$p2"
run fcgi-behind-nginx "http://127.0.0.1:$p4"
