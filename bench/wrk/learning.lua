-- Shared by the learning part's wrk scripts (bench/learning.py; wrk 4.x, LuaJIT/Lua 5.1):
-- environment access, 2xx counting per thread (wrk itself counts only status >= 400 as
-- errors, so a 3xx or 1xx would otherwise pass as a success), a per-thread random seed and
-- the BENCH_JSON line of bench/wrklib.py. Each script defines `request()` and sets
-- `bench_endpoint`, then loads this file (before or after defining request: it only defines
-- setup/init/response/done).
--
--   BENCH_SEED   base of the per-thread seeds (default: the clock); thread k seeds with
--                BENCH_SEED + k * 104729, so two runs with the same seed send the same ids
--                only if asked to (the driver passes a fresh seed per run).

function bench_env(name, default)
  local value = os.getenv(name)
  if value == nil or value == "" then
    if default == nil then
      error("environment variable " .. name .. " is not set")
    end
    return default
  end
  return value
end

local threads = {}
local seed_base = tonumber(bench_env("BENCH_SEED", tostring(os.time())))

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("bench_thread_id", #threads)
  thread:set("bench_ok", 0)
  thread:set("bench_other", 0)
end

function init(args)
  local id = bench_thread_id or 0
  math.randomseed(seed_base + id * 104729)
  for _ = 1, 16 do
    math.random()
  end
  if bench_init then
    bench_init(id)
  end
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    bench_ok = bench_ok + 1
  else
    bench_other = bench_other + 1
  end
end

-- Percent-encoding of a query value (RFC 3986 unreserved characters kept).
function bench_encode(text)
  return (text:gsub("[^A-Za-z0-9%-%._~]", function(c)
    return string.format("%%%02X", string.byte(c))
  end))
end

function done(summary, latency, requests)
  local ok, other = 0, 0
  for _, t in ipairs(threads) do
    ok = ok + (t:get("bench_ok") or 0)
    other = other + (t:get("bench_other") or 0)
  end
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_s":%.3f,"rps":%.2f,"bytes":%d,'
      .. '"ok":%d,"non_2xx":%d,"ok_rps":%.2f,'
      .. '"latency_us":{"min":%d,"mean":%.2f,"stdev":%.2f,"max":%d,'
      .. '"p50":%d,"p75":%d,"p90":%d,"p99":%d,"p999":%d},'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"tenants":1,"hot_tenants":1,"dist":"single","zipf_s":0,"hot_share":1,'
      .. '"endpoint":"%s","kind":"hub"}\n',
    summary.requests, seconds, summary.requests / math.max(seconds, 1e-9), summary.bytes,
    ok, other, ok / math.max(seconds, 1e-9),
    latency.min, latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(75), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9),
    e.connect, e.read, e.write, e.status, e.timeout,
    bench_endpoint or "?"))
end
