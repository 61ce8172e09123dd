-- baseline.lua — the "baseline" workload of bench/http (run by run.sh): GET /healthz,
-- no cookie, no session. No request() or response(): wrk builds the request once and
-- parses no body, so the client costs as little as it can. Non-2xx is wrk's own count
-- (statuses > 399).
--
--   wrk -tT -cC -dD -s baseline.lua BASE_URL/healthz

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format("RESULT workload=baseline requests=%d seconds=%.2f rps=%.1f p50_ms=%.3f " ..
    "p90_ms=%.3f p99_ms=%.3f max_ms=%.3f non2xx=%d socket_errors=%d foreign=0 sessions=0 " ..
    "check=0 codes=-\n",
    summary.requests, secs, summary.requests / secs, latency:percentile(50) / 1000,
    latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.status, e.connect + e.read + e.write + e.timeout))
end
