-- wrk script: POST /xapi/statements, each request a batch of BENCH_XAPI_BATCH (default 50)
-- distinct valid xAPI 1.0.3 statements with fresh UUIDs (drawn from the per-thread seed, see
-- learning.lua), HTTP Basic with an LRS credential. Environment (set by bench/learning.py):
--   BENCH_XAPI_AUTH        the Authorization header value ("Basic <base64 key:secret>")
--   BENCH_XAPI_BATCH       statements per request (default 50)
--   BENCH_XAPI_AGENTS      learners the actors are drawn from: mailto:learner<i>@bench.test
--   BENCH_XAPI_ACTIVITIES  activities the objects are drawn from: http://bench.test/activities/a<i>
--   BENCH_XAPI_COURSES     parent activities (context): http://bench.test/courses/c<i> (default 10)
-- Every statement has an actor (name + mbox), a verb with a display, an Activity object with
-- a definition, a result (score, success, completion, duration), a context (registration,
-- parent course) and a timestamp: the shape of a typical cmi5/SCORM-wrapped record.
bench_endpoint = "xapi_ingest"
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "learning.lua")

local auth = bench_env("BENCH_XAPI_AUTH")
local batch = tonumber(bench_env("BENCH_XAPI_BATCH", "50"))
local agents = tonumber(bench_env("BENCH_XAPI_AGENTS", "1000"))
local activities = tonumber(bench_env("BENCH_XAPI_ACTIVITIES", "1000"))
local courses = tonumber(bench_env("BENCH_XAPI_COURSES", "10"))
local random = math.random

local verbs = { "experienced", "attempted", "completed", "passed", "failed", "answered", "progressed" }
local headers = {
  ["Authorization"] = auth,
  ["X-Experience-API-Version"] = "1.0.3",
  ["Content-Type"] = "application/json",
  ["Accept"] = "application/json",
}

local hex = "0123456789abcdef"
local function hexdigits(n)
  local out = {}
  for i = 1, n do
    local k = random(16)
    out[i] = hex:sub(k, k)
  end
  return table.concat(out)
end

-- A version-4 UUID: 122 random bits from the thread's generator.
local function uuid4()
  local v = 8 + random(4) -- 8, 9, a or b
  local variant = hex:sub(v, v)
  return hexdigits(8) .. "-" .. hexdigits(4) .. "-4" .. hexdigits(3) .. "-" .. variant .. hexdigits(3)
    .. "-" .. hexdigits(12)
end

local function statement()
  local learner = random(agents)
  local activity = random(activities)
  local verb = verbs[random(#verbs)]
  local scaled = random(0, 100) / 100
  return string.format(
    '{"id":"%s","actor":{"objectType":"Agent","name":"Learner %d","mbox":"mailto:learner%d@bench.test"},'
      .. '"verb":{"id":"http://adlnet.gov/expapi/verbs/%s","display":{"en-US":"%s"}},'
      .. '"object":{"objectType":"Activity","id":"http://bench.test/activities/a%d",'
      .. '"definition":{"name":{"en-US":"Lesson %d"},"type":"http://adlnet.gov/expapi/activities/lesson"}},'
      .. '"result":{"score":{"scaled":%.2f,"raw":%d,"min":0,"max":100},"success":%s,"completion":true,"duration":"PT%dM%dS"},'
      .. '"context":{"registration":"%s","contextActivities":{"parent":[{"id":"http://bench.test/courses/c%d"}]}},'
      .. '"timestamp":"2026-%02d-%02dT%02d:%02d:%02d.000Z"}',
    uuid4(), learner, learner, verb, verb, activity, activity, scaled, math.floor(scaled * 100),
    scaled >= 0.5 and "true" or "false", random(0, 59), random(0, 59), uuid4(), random(courses),
    random(1, 11), random(1, 28), random(0, 23), random(0, 59), random(0, 59))
end

function request()
  local parts = {}
  for i = 1, batch do
    parts[i] = statement()
  end
  return wrk.format("POST", "/xapi/statements", headers, "[" .. table.concat(parts, ",") .. "]")
end
