-- probe.lua — the "lost updates" probe of bench/http (run by run.sh): exactly TOTAL
-- POST /api/cart {"sku":"P","qty":1} on ONE session from all the connections of one wrk
-- thread, so that -c adds of the same session are in flight at once.
--
--   wrk -t1 -c20 -dD -s probe.lua BASE_URL -- COOKIE CSRF TOTAL
--
-- Once TOTAL adds are sent, idle connections send GET /healthz, whose answers are not
-- counted (they are told apart by their body: "ok", not JSON). wrk 4.1 calls request()
-- once before the run only to check that the request parses and never sends it: that
-- first call gets /healthz, so the count of adds stays exact. The thread stops when
-- TOTAL adds are answered (wrk itself still waits out -d). run.sh then reads the cart
-- back: lost = TOTAL - cart.P.

local nthreads = 0
local thr
function setup(thread)
  nthreads = nthreads + 1
  thr = thread
  assert(nthreads == 1, "probe.lua needs -t1")
end

sent, answered, ok = 0, 0, 0
local add, health, total
local first = true

function init(args)
  assert(args[1] and args[2], "usage: -- COOKIE CSRF [TOTAL]")
  total = tonumber(args[3] or "") or 200
  add = wrk.format("POST", "/api/cart", { ["Cookie"] = args[1], ["X-CSRF-Token"] = args[2],
                   ["Content-Type"] = "application/json" }, '{"sku":"P","qty":1}')
  health = wrk.format("GET", "/healthz")
end

function request()
  if first then first = false; return health end
  if sent < total then sent = sent + 1; return add end
  return health
end

function response(status, headers, body)
  if status == 200 and body:sub(1, 1) ~= "{" then return end   -- a /healthz answer
  answered = answered + 1
  if status >= 200 and status <= 299 then ok = ok + 1 end
  if answered >= total then wrk.thread:stop() end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("PROBEWRK sent=%d answered=%d ok=%d socket_errors=%d\n",
    thr:get("sent"), thr:get("answered"), thr:get("ok"), e.connect + e.read + e.write + e.timeout))
end
