-- sessions.lua — the "cart" and "read" workloads of bench/http (run by run.sh).
--
--   wrk -tT -cC -dD -s sessions.lua BASE_URL -- cart|read SESSIONS_FILE T [CHECK]
--
-- cart: POST /api/cart {"sku":"S<k>","qty":1} with a session's cookie and X-CSRF-Token;
--       k walks over 8 skus, so carts stay small.
-- read: GET /api/session with a session's cookie.
-- SESSIONS_FILE holds "cookie<TAB>csrf" lines (api.py sessions). wrk gives Lua no
-- connection id, so session j belongs to thread j % T (T must equal -t) and each
-- thread sends its sessions round-robin: with N sessions >> connections, no session has
-- two requests in flight. Every request string is built once in init().
-- CHECK=1 (default): response() counts each status outside 2xx, and each 2xx whose
-- "csrf" is not one of the thread's tokens ("foreign": the server lost the session and
-- silently made a new one). CHECK=0: no response(), wrk parses no body, non-2xx is
-- wrk's own count (statuses > 399) — cheaper for the client, which shares the CPUs.
-- done() prints one "RESULT key=value ..." line; see run.sh for the fields.

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  threads[#threads + 1] = thread
end

-- per-thread state read back by done() through thread:get()
mode, check, nsess, non2xx, foreign = "?", 1, 0, 0, 0
codes = {}

local reqs, tokens = {}, {}
local n, i = 0, 0
local NSKU = 8

function init(args)
  mode = args[1]
  local file, nthreads = args[2], tonumber(args[3] or "")
  check = tonumber(args[4] or "1") or 1
  assert(mode == "cart" or mode == "read", "usage: -- cart|read SESSIONS_FILE THREADS [CHECK]")
  assert(file and nthreads and nthreads > 0, "usage: -- cart|read SESSIONS_FILE THREADS [CHECK]")
  local j = 0
  for line in assert(io.open(file, "r")):lines() do
    local cookie, csrf = line:match("^([^\t]+)\t(%S+)")
    if cookie then
      if j % nthreads == tid then
        n = n + 1
        tokens[csrf] = true
        if mode == "cart" then
          local h = { ["Cookie"] = cookie, ["X-CSRF-Token"] = csrf,
                      ["Content-Type"] = "application/json" }
          local per = {}
          for k = 0, NSKU - 1 do
            per[k] = wrk.format("POST", "/api/cart", h, '{"sku":"S' .. k .. '","qty":1}')
          end
          reqs[n] = per
        else
          reqs[n] = wrk.format("GET", "/api/session", { ["Cookie"] = cookie })
        end
      end
      j = j + 1
    end
  end
  nsess = n
  assert(n > 0, "no session for thread " .. tid .. " in " .. file)
  if check == 0 then response = nil end
end

function request()
  local s = i % n
  local pass = (i - s) / n
  i = i + 1
  if mode == "cart" then
    return reqs[s + 1][(s + pass) % NSKU]   -- each pass over the sessions moves the sku
  end
  return reqs[s + 1]
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    codes[status] = (codes[status] or 0) + 1
    return
  end
  local tok = body:match('"csrf"%s*:%s*"([^"]*)"')
  if not (tok and tokens[tok]) then foreign = foreign + 1 end
end

function done(summary, latency, requests)
  local S, B, F, chk, md, all = 0, 0, 0, 1, "?", {}
  for _, t in ipairs(threads) do
    S = S + t:get("nsess"); B = B + t:get("non2xx"); F = F + t:get("foreign")
    chk = t:get("check"); md = t:get("mode")
    for c, k in pairs(t:get("codes")) do all[c] = (all[c] or 0) + k end
  end
  local e = summary.errors
  if chk == 0 then B = e.status; F = 0 end
  local cl = {}
  for c, k in pairs(all) do cl[#cl + 1] = c .. ":" .. k end
  table.sort(cl)
  local secs = summary.duration / 1e6
  io.write(string.format("RESULT workload=%s requests=%d seconds=%.2f rps=%.1f p50_ms=%.3f " ..
    "p90_ms=%.3f p99_ms=%.3f max_ms=%.3f non2xx=%d socket_errors=%d foreign=%d sessions=%d " ..
    "check=%d codes=%s\n",
    md, summary.requests, secs, summary.requests / secs, latency:percentile(50) / 1000,
    latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    B, e.connect + e.read + e.write + e.timeout, F, S, chk,
    #cl > 0 and table.concat(cl, ",") or "-"))
end
