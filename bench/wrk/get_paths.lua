-- wrk script: GET a path drawn per request (uniformly, from the thread's seed) from a file
-- of paths, one per line, with a bearer token; 2xx counted (bench/wrk/learning.lua).
--   BENCH_PATHS_FILE   the paths, e.g. finance's /v1/billing/payments?...&cursor=<c> pages
--   BENCH_GET_TOKEN    the bearer token
--   BENCH_GET_LABEL    the endpoint name in the BENCH_JSON line
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "learning.lua")
bench_endpoint = bench_env("BENCH_GET_LABEL", "get_paths")

local headers = { ["Authorization"] = "Bearer " .. bench_env("BENCH_GET_TOKEN"), ["Accept"] = "application/json" }
local paths = {}
do
  local file = io.open(bench_env("BENCH_PATHS_FILE"), "r")
  if file == nil then
    error("cannot open BENCH_PATHS_FILE")
  end
  for line in file:lines() do
    if line ~= "" then
      paths[#paths + 1] = line
    end
  end
  file:close()
end
assert(#paths > 0, "no paths in BENCH_PATHS_FILE")

function request()
  return wrk.format("GET", paths[math.random(#paths)], headers)
end
