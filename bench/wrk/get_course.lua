-- wrk script: GET one course by id (/v1/courses/{id}) with a tenant drawn per
-- request; see common.lua for the environment variables (targets, distribution, hub/peer).
bench_endpoint = "get"
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "common.lua")
