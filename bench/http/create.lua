-- create.lua — makes live sessions in a running sessio-shop, fast: the
-- untimed fill of the scaling runs (scripts/bench_scale.sh) for the memory
-- store, whose sessions live in the shop's process (a shared store is
-- filled by bench/populate.c instead).
--
--   wrk -tT -cC -d600s -s create.lua BASE_URL -- COUNT T
--
-- Every request is a cookieless POST /api/cart {"sku":"S0","qty":1}, which
-- makes one guest session, as a first visit's cart add does. Each of the T
-- threads (T must equal -t) stops once its share of COUNT answers were 2xx,
-- so COUNT sessions are made, plus at most the requests in flight (-c) when
-- the last thread stops. The shop must run with --new-sessions-limit 0 (all
-- of them come from 127.0.0.1). done() prints one line:
--   CREATE ok=N non2xx=N socket_errors=N seconds=S rate=R
-- The cookies are not kept: the load goes to sessions made by api.py.

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  threads[#threads + 1] = thread
end

ok, bad, quota = 0, 0, 0

function init(args)
  local count, nthreads = tonumber(args[1] or ""), tonumber(args[2] or "")
  assert(count and nthreads and nthreads > 0, "usage: -- COUNT THREADS")
  quota = math.floor(count / nthreads) + ((tid < count % nthreads) and 1 or 0)
  wrk.method = "POST"
  wrk.path = "/api/cart"
  wrk.body = '{"sku":"S0","qty":1}'
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Cookie"] = nil
  if quota == 0 then wrk.thread:stop() end
end

function response(status, headers, body)
  if status >= 200 and status <= 299 then
    ok = ok + 1
    if ok >= quota then wrk.thread:stop() end
  else
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local O, B = 0, 0
  for _, t in ipairs(threads) do O = O + t:get("ok"); B = B + t:get("bad") end
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format("CREATE ok=%d non2xx=%d socket_errors=%d seconds=%.2f rate=%.0f\n",
    O, B, e.connect + e.read + e.write + e.timeout, secs, O / secs))
end
