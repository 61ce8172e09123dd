-- soak.lua — the workload of the soak (bench/soak/run.sh): the cart workload with a
-- steady stream of NEW sessions, so that sessions keep being created, used for a
-- while, forgotten by their client, expired by the idle timeout and collected by GC.
--
--   wrk -tT -cC -dD -s soak.lua BASE_URL -- NEW_EVERY POOL PROGRESS_DIR
--
-- Each wrk thread keeps a ring of the POOL most recent sessions it was given. Every
-- NEW_EVERY-th request (and every request while the ring is still short) is a
-- cookieless POST /api/cart: the shop creates a session and answers with Set-Cookie
-- and the session's CSRF token, and response() puts that session into the ring over
-- the oldest one, which is never sent again (a visitor who left: the shop expires it
-- after the idle timeout). The other requests are POST /api/cart {"sku":"S<k>","qty":1}
-- with the cookie and X-CSRF-Token of the ring's sessions in turn, 8 skus.
-- The ring turns over every POOL * NEW_EVERY requests of a thread, far inside the
-- idle and absolute timeouts, so no request carries a dead session's cookie.
--
-- Checks (as bench/http/sessions.lua): every answer must be 2xx, and a 2xx without a
-- new cookie must carry the token of one of the thread's sessions (else "foreign":
-- the shop lost a session and silently made a new one). Every 1000 answers a thread
-- writes "answered created non2xx foreign" to PROGRESS_DIR/<tid>, which the sampler
-- reads; done() writes the final counts there and prints one "RESULT key=value ..."
-- line.

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  threads[#threads + 1] = thread
end

-- per-thread counters, read back by done() through thread:get()
answered, created, non2xx, foreign = 0, 0, 0, 0
codes = {}

local NSKU = 8
progress_file = "" -- PROGRESS_DIR/<tid>
local new_every, pool
local newreq
local ring = {}     -- ring[j] = { req = {[0..7] = request}, csrf = token }, j = 1..n
local n, oldest = 0, 1
local tokens = {}   -- csrf -> true, for the ring's sessions and the ones just evicted
local retired = {}  -- tokens evicted from the ring, dropped POOL evictions later
local nretired = 0
local sent, cursor, sku = 0, 0, 0

function init(args)
  new_every = tonumber(args[1] or "")
  pool = tonumber(args[2] or "")
  local dir = args[3]
  assert(new_every and new_every >= 2 and pool and pool >= 1 and dir,
         "usage: -- NEW_EVERY(>=2) POOL(>=1) PROGRESS_DIR")
  newreq = wrk.format("POST", "/api/cart", { ["Content-Type"] = "application/json" },
                      '{"sku":"S0","qty":1}')
  progress_file = dir .. "/" .. tid
end

local function write_progress(path, a, c, b, f)
  local fh = io.open(path .. ".tmp", "w")  -- then renamed: the sampler never sees half
  if fh then
    fh:write(string.format("%d %d %d %d\n", a, c, b, f))
    fh:close()
    os.rename(path .. ".tmp", path)
  end
end

local function add_session(cookie, csrf)
  local h = { ["Cookie"] = cookie, ["X-CSRF-Token"] = csrf,
              ["Content-Type"] = "application/json" }
  local per = {}
  for k = 0, NSKU - 1 do
    per[k] = wrk.format("POST", "/api/cart", h, '{"sku":"S' .. k .. '","qty":1}')
  end
  tokens[csrf] = true
  created = created + 1
  if n < pool then
    n = n + 1
    ring[n] = { req = per, csrf = csrf }
    return
  end
  -- over the oldest; its token stays valid for answers still in flight
  local old = ring[oldest]
  nretired = nretired + 1
  local slot = nretired % pool + 1
  if retired[slot] then tokens[retired[slot]] = nil end
  retired[slot] = old.csrf
  ring[oldest] = { req = per, csrf = csrf }
  oldest = oldest % pool + 1
end

function request()
  sent = sent + 1
  if n < pool / 2 or sent % new_every == 0 then
    return newreq
  end
  cursor = cursor % n + 1
  sku = (sku + 1) % NSKU
  return ring[cursor].req[sku]
end

function response(status, headers, body)
  answered = answered + 1
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    codes[status] = (codes[status] or 0) + 1
  else
    local tok = body:match('"csrf"%s*:%s*"([^"]*)"')
    local sc = headers["Set-Cookie"] or headers["set-cookie"]
    if sc then
      local cookie = sc:match("^%s*([^;]+)")
      if cookie and tok and not tokens[tok] then
        add_session(cookie, tok)
      else
        foreign = foreign + 1
      end
    elseif not (tok and tokens[tok]) then
      foreign = foreign + 1
    end
  end
  if answered % 1000 == 0 then
    write_progress(progress_file, answered, created, non2xx, foreign)
  end
end

function done(summary, latency, requests)
  local A, N, B, F, all = 0, 0, 0, 0, {}
  for _, t in ipairs(threads) do
    A = A + t:get("answered"); N = N + t:get("created")
    B = B + t:get("non2xx"); F = F + t:get("foreign")
    for c, k in pairs(t:get("codes")) do all[c] = (all[c] or 0) + k end
    write_progress(t:get("progress_file"), t:get("answered"), t:get("created"),
                   t:get("non2xx"), t:get("foreign"))
  end
  local cl = {}
  for c, k in pairs(all) do cl[#cl + 1] = c .. ":" .. k end
  table.sort(cl)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format("RESULT requests=%d answered=%d seconds=%.2f rps=%.1f " ..
    "p50_ms=%.3f p99_ms=%.3f max_ms=%.3f created=%d non2xx=%d foreign=%d " ..
    "socket_errors=%d codes=%s\n",
    summary.requests, A, secs, summary.requests / secs, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, N, B, F,
    e.connect + e.read + e.write + e.timeout, #cl > 0 and table.concat(cl, ",") or "-"))
end
