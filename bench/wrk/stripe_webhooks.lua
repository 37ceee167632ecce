-- wrk script: POST /v1/billing/stripe/webhook, each request one Stripe event, signed.
--
-- LuaJIT has no HMAC-SHA256, so the bodies are signed beforehand by bench/billing.py
-- (`Stripe-Signature: t=<now>,v1=<HMAC-SHA256 of "t.body">`, exactly as Stripe signs, a few
-- seconds before they are sent and well within the gateway's 300-second tolerance) and
-- written one per line: "<Stripe-Signature> TAB <body>", in the order they are to be sent.
-- Run with as many threads as connections (`-t N -c N`): thread k sends lines k, k+N,
-- k+2N, ... one after another on its one connection, so the file is sent in its order (N at
-- a time) and every line exactly once. When a thread has its last answer it stops itself
-- and writes `<BENCH_WEBHOOK_DONE>.<k>`; the driver interrupts wrk (SIGINT) once every
-- thread has, and wrk prints its latency figures and this script's BENCH_JSON line.
--
--   BENCH_WEBHOOK_FILE   the signed deliveries, one per line
--   BENCH_WEBHOOK_DONE   prefix of the marker files
--   BENCH_WEBHOOK_PATH   default /v1/billing/stripe/webhook
--
-- Counted per thread: 2xx answers, answers saying `"duplicate":true`, anything else, and
-- requests sent after a thread ran out of lines (none expected; a cheap GET /readyz each,
-- counted so the figures can say so).
bench_endpoint = "stripe_webhook"

local function env(name, default)
  local value = os.getenv(name)
  if value == nil or value == "" then
    if default == nil then
      error("environment variable " .. name .. " is not set")
    end
    return default
  end
  return value
end

local file_path = env("BENCH_WEBHOOK_FILE")
local done_prefix = env("BENCH_WEBHOOK_DONE")
local path = env("BENCH_WEBHOOK_PATH", "/v1/billing/stripe/webhook")

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("bench_thread_id", #threads)
  thread:set("bench_ok", 0)
  thread:set("bench_duplicate", 0)
  thread:set("bench_other", 0)
  thread:set("bench_filler", 0)
  thread:set("bench_sent", 0)
end

local mine = {}
local answered = 0
local stride = 1
local id = 1

function init(args)
  id = bench_thread_id or 1
  stride = tonumber(os.getenv("BENCH_WEBHOOK_THREADS") or "1")
  local file = io.open(file_path, "r")
  if file == nil then
    error("cannot open " .. file_path)
  end
  local n = 0
  for line in file:lines() do
    if line ~= "" then
      n = n + 1
      if (n - 1) % stride == id - 1 then
        local tab = line:find("\t", 1, true)
        local headers = {
          ["Content-Type"] = "application/json; charset=utf-8",
          ["Stripe-Signature"] = line:sub(1, tab - 1),
          ["User-Agent"] = "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        mine[#mine + 1] = wrk.format("POST", path, headers, line:sub(tab + 1))
      end
    end
  end
  file:close()
  bench_sent = 0
  if #mine == 0 then
    local marker = io.open(done_prefix .. "." .. id, "w")
    marker:write("0\n")
    marker:close()
    wrk.thread:stop()
  end
end

-- The line to send is the one after the last answered, not a counter advanced here: wrk calls
-- request() once more on thread 1 before the run (to check the request), and that call must
-- not use up a line. One connection per thread: the next request goes out after the answer.
function request()
  local index = answered + 1
  if index <= #mine then
    return mine[index]
  end
  bench_filler = bench_filler + 1
  return wrk.format("GET", "/readyz")
end

function response(status, headers, body)
  if answered >= #mine then
    return -- a filler's answer
  end
  answered = answered + 1
  bench_sent = bench_sent + 1
  if status >= 200 and status < 300 then
    bench_ok = bench_ok + 1
    if body ~= nil and body:find('"duplicate":true', 1, true) then
      bench_duplicate = bench_duplicate + 1
    end
  else
    bench_other = bench_other + 1
  end
  if answered == #mine then
    local marker = io.open(done_prefix .. "." .. id, "w")
    marker:write(tostring(answered) .. "\n")
    marker:close()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local ok, duplicate, other, filler, sent = 0, 0, 0, 0, 0
  for _, t in ipairs(threads) do
    ok = ok + (t:get("bench_ok") or 0)
    duplicate = duplicate + (t:get("bench_duplicate") or 0)
    other = other + (t:get("bench_other") or 0)
    filler = filler + (t:get("bench_filler") or 0)
    sent = sent + (t:get("bench_sent") or 0)
  end
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_s":%.3f,"rps":%.2f,"bytes":%d,'
      .. '"ok":%d,"non_2xx":%d,"ok_rps":%.2f,"duplicate":%d,"filler":%d,"sent":%d,'
      .. '"latency_us":{"min":%d,"mean":%.2f,"stdev":%.2f,"max":%d,'
      .. '"p50":%d,"p75":%d,"p90":%d,"p99":%d,"p999":%d},'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"tenants":1,"hot_tenants":1,"dist":"single","zipf_s":0,"hot_share":1,'
      .. '"endpoint":"%s","kind":"hub"}\n',
    summary.requests, seconds, summary.requests / math.max(seconds, 1e-9), summary.bytes,
    ok, other, ok / math.max(seconds, 1e-9), duplicate, filler, sent,
    latency.min, latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(75), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9),
    e.connect, e.read, e.write, e.status, e.timeout, bench_endpoint))
end
