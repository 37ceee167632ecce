-- wrk script: GET a page of courses (/v1/courses?limit=20) with a tenant drawn per
-- request; see common.lua for the environment variables (targets, distribution, hub/peer).
bench_endpoint = "list"
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "common.lua")
