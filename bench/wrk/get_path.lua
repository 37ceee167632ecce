-- wrk script: GET one path with a bearer token (the learner's session), 2xx counted.
--   BENCH_GET_PATH    e.g. /v1/me/courses/<id>/progress or /v1/courses/<id>
--   BENCH_GET_TOKEN   the bearer token
--   BENCH_GET_LABEL   the endpoint name in the BENCH_JSON line
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "learning.lua")
bench_endpoint = bench_env("BENCH_GET_LABEL", "get_path")

local path = bench_env("BENCH_GET_PATH")
local headers = { ["Authorization"] = "Bearer " .. bench_env("BENCH_GET_TOKEN"), ["Accept"] = "application/json" }

function request()
  return wrk.format("GET", path, headers)
end
