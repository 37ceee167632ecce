-- Shared request generator for the wrk scripts in this directory (wrk 4.x, LuaJIT/Lua 5.1).
--
-- Each script sets `bench_endpoint` ("get" or "list") and loads this file. The rest comes from
-- the environment, so one script serves every configuration of `make bench`:
--   BENCH_TARGETS        targets file from bench/seed.py: slug <TAB> token <TAB> course id ...
--   BENCH_TENANTS        use only the first N tenants of the file (default: all of them)
--   BENCH_DIST           uniform | zipf  (zipf: the hottest 1 % of tenants get 80 % of requests)
--   BENCH_HOT_FRACTION   share of tenants that are "hot" under zipf (default 0.01)
--   BENCH_HOT_SHARE      share of requests the hot tenants get under zipf (default 0.8)
--   BENCH_KIND           hub  -> /v1/courses..., Authorization: Bearer <tenant's API key>
--                        peer -> /courses..., Host: <slug>.peer.test (the Django peer)
--   BENCH_LIST_LIMIT     page size of the list call (default 20; the peer takes ?limit too)
--
-- The tenant is drawn per request (from a precomputed cumulative table under zipf), then for
-- a single-course read one of that tenant's courses uniformly. done() prints one line
-- "BENCH_JSON {...}" with requests/s, latency percentiles and error counts for bench/bench.py.

local function env(name, default)
  local value = os.getenv(name)
  if value == nil or value == "" then
    return default
  end
  return value
end

local endpoint = bench_endpoint or env("BENCH_ENDPOINT", "get")
local kind = env("BENCH_KIND", "hub")
local dist = env("BENCH_DIST", "uniform")
local targets_path = env("BENCH_TARGETS", "bench/out/targets.tsv")
local limit = tonumber(env("BENCH_TENANTS", "0")) or 0
local hot_fraction = tonumber(env("BENCH_HOT_FRACTION", "0.01"))
local hot_share = tonumber(env("BENCH_HOT_SHARE", "0.8"))
local list_limit = tonumber(env("BENCH_LIST_LIMIT", "20"))

assert(endpoint == "get" or endpoint == "list", "bench_endpoint must be get or list")
assert(kind == "hub" or kind == "peer", "BENCH_KIND must be hub or peer")
assert(dist == "uniform" or dist == "zipf", "BENCH_DIST must be uniform or zipf")

-- Tenants ------------------------------------------------------------------------------------

local tenants = {}
do
  local file = io.open(targets_path, "r")
  if file == nil then
    error("cannot open targets file " .. targets_path)
  end
  for line in file:lines() do
    if line ~= "" and line:sub(1, 1) ~= "#" then
      local fields = {}
      for field in line:gmatch("[^\t]+") do
        fields[#fields + 1] = field
      end
      if #fields >= 3 then
        local courses = {}
        for i = 3, #fields do
          courses[#courses + 1] = fields[i]
        end
        tenants[#tenants + 1] = { slug = fields[1], token = fields[2], courses = courses }
      end
      if limit > 0 and #tenants >= limit then
        break
      end
    end
  end
  file:close()
end
local n = #tenants
assert(n > 0, "no tenants in " .. targets_path)

-- Per-tenant header tables, built once.
for _, t in ipairs(tenants) do
  if kind == "peer" then
    t.headers = { ["Host"] = t.slug .. ".peer.test", ["Accept"] = "application/json" }
  else
    t.headers = { ["Authorization"] = "Bearer " .. t.token, ["Accept"] = "application/json" }
  end
end

local prefix = (kind == "peer") and "/courses" or "/v1/courses"
local list_path = prefix .. "?limit=" .. list_limit

-- Tenant choice ------------------------------------------------------------------------------

-- Zipf over tenant ranks 1..n with the exponent s solved (bisection) so that the hottest
-- ceil(n * hot_fraction) tenants receive hot_share of the requests. Rank = line order.
local cdf = nil
local zipf_s = 0
local realised_hot_share = 0
local hot = math.max(1, math.ceil(n * hot_fraction))

local function share_of_hot(s)
  local top, all = 0, 0
  for k = 1, n do
    local w = k ^ -s
    all = all + w
    if k <= hot then
      top = top + w
    end
  end
  return top / all
end

if dist == "zipf" and n > 1 and hot < n then
  local lo, hi = 0, 30
  for _ = 1, 60 do
    local mid = (lo + hi) / 2
    if share_of_hot(mid) < hot_share then
      lo = mid
    else
      hi = mid
    end
  end
  zipf_s = hi
  cdf = {}
  local total = 0
  for k = 1, n do
    total = total + k ^ -zipf_s
    cdf[k] = total
  end
  for k = 1, n do
    cdf[k] = cdf[k] / total
  end
  cdf[n] = 1.0
  realised_hot_share = cdf[hot]
else
  realised_hot_share = hot / n
end

local random = math.random

local function pick()
  if cdf == nil then
    return random(n)
  end
  local u = random()
  local lo, hi = 1, n
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] < u then
      lo = mid + 1
    else
      hi = mid
    end
  end
  return lo
end

-- wrk hooks ----------------------------------------------------------------------------------

local thread_counter = 0

function setup(thread)
  thread_counter = thread_counter + 1
  thread:set("bench_thread_id", thread_counter)
end

function init(args)
  local id = bench_thread_id or 0
  math.randomseed(os.time() + id * 104729)
  for _ = 1, 16 do
    random()
  end
end

function request()
  local t = tenants[pick()]
  if endpoint == "get" then
    local courses = t.courses
    return wrk.format("GET", prefix .. "/" .. courses[random(#courses)], t.headers)
  end
  return wrk.format("GET", list_path, t.headers)
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_s":%.3f,"rps":%.2f,"bytes":%d,'
      .. '"latency_us":{"min":%d,"mean":%.2f,"stdev":%.2f,"max":%d,'
      .. '"p50":%d,"p75":%d,"p90":%d,"p99":%d,"p999":%d},'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"tenants":%d,"hot_tenants":%d,"dist":"%s","zipf_s":%.4f,"hot_share":%.4f,'
      .. '"endpoint":"%s","kind":"%s"}\n',
    summary.requests, seconds, summary.requests / math.max(seconds, 1e-9), summary.bytes,
    latency.min, latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(75), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9),
    e.connect, e.read, e.write, e.status, e.timeout,
    n, hot, dist, zipf_s, realised_hot_share, endpoint, kind))
end
