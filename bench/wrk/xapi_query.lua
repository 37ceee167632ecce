-- wrk script: GET /xapi/statements filtered by one agent or one activity, drawn per request
-- from the same names bench/wrk/xapi_ingest.lua writes. Environment (bench/learning.py):
--   BENCH_XAPI_AUTH        the Authorization header value ("Basic ...")
--   BENCH_XAPI_FILTER      agent | activity
--   BENCH_XAPI_AGENTS / BENCH_XAPI_ACTIVITIES   as for the ingest
--   BENCH_XAPI_LIMIT       the `limit` parameter (default: none, the server's page)
bench_endpoint = "xapi_query"
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "learning.lua")

local auth = bench_env("BENCH_XAPI_AUTH")
local filter = bench_env("BENCH_XAPI_FILTER")
local agents = tonumber(bench_env("BENCH_XAPI_AGENTS", "1000"))
local activities = tonumber(bench_env("BENCH_XAPI_ACTIVITIES", "1000"))
local limit = bench_env("BENCH_XAPI_LIMIT", "")
assert(filter == "agent" or filter == "activity", "BENCH_XAPI_FILTER must be agent or activity")
bench_endpoint = "xapi_by_" .. filter

local headers = { ["Authorization"] = auth, ["X-Experience-API-Version"] = "1.0.3", ["Accept"] = "application/json" }
local suffix = (limit ~= "") and ("&limit=" .. limit) or ""

-- Precomputed paths: the encoding is not what is measured.
local paths = {}
local count = (filter == "agent") and agents or activities
for i = 1, count do
  local value
  if filter == "agent" then
    value = string.format('{"mbox":"mailto:learner%d@bench.test"}', i)
  else
    value = "http://bench.test/activities/a" .. i
  end
  paths[i] = "/xapi/statements?" .. filter .. "=" .. bench_encode(value) .. suffix
end

function request()
  return wrk.format("GET", paths[math.random(count)], headers)
end
