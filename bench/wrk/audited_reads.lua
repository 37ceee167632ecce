-- wrk script for the privacy bench's seeding (bench/privacy.py): a fixed number of audited
-- reads per target, through the public API, as fast as the gateway takes them.
--
-- BENCH_READS_FILE lists one target a line: token <TAB> path <TAB> count. Each of the wrk
-- threads sends its share of every target's count (the threads split each count, so one
-- target with 100,000 reads still uses every thread), cycling over the targets. Every such
-- read (GET /v1/people/{id} with an admin key) appends one entry to the institution's audit
-- trail naming the person read, with the caller's IP: the person's data (an export carries
-- it) and technical data with a retention period (the sweeper removes the IP).
--
-- wrk runs for its -d duration; a thread that has sent and heard back its share stops and
-- appends a line to BENCH_READS_DONE, so the driver can end wrk (SIGINT) once every thread
-- is done. done() prints "BENCH_READS {...}" with the status counts.

local function env(name, default)
  local value = os.getenv(name)
  if value == nil or value == "" then
    return default
  end
  return value
end

local reads_path = env("BENCH_READS_FILE", "bench/out/run/reads.tsv")
local done_path = env("BENCH_READS_DONE", "bench/out/run/reads.done")
local threads_total = tonumber(env("BENCH_READS_THREADS", "2"))

local counter = 0

function setup(thread)
  thread:set("thread_index", counter)
  counter = counter + 1
end

local targets = {}
local issued_total, wanted_total, answered, ok, other = 0, 0, 0, 0, 0
local cursor = 1
local finished = false

function init(args)
  local index = thread_index or 0
  local file = assert(io.open(reads_path, "r"), "cannot open " .. reads_path)
  for line in file:lines() do
    local token, path, count = line:match("^([^\t]+)\t([^\t]+)\t(%d+)$")
    if token then
      count = tonumber(count)
      local share = math.floor(count / threads_total)
      if index < count % threads_total then
        share = share + 1
      end
      if share > 0 then
        local headers = { ["Authorization"] = "Bearer " .. token, ["Accept"] = "application/json" }
        targets[#targets + 1] = {
          left = share,
          request = wrk.format("GET", path, headers),
        }
        wanted_total = wanted_total + share
      end
    end
  end
  file:close()
end

local idle = wrk.format("GET", "/healthz")

function request()
  -- Next target with reads left, round robin; once all are sent, cheap unaudited requests
  -- keep the connections busy until the last answers arrive.
  for _ = 1, #targets do
    local t = targets[cursor]
    cursor = cursor % #targets + 1
    if t.left > 0 then
      t.left = t.left - 1
      issued_total = issued_total + 1
      return t.request
    end
  end
  return idle
end

function response(status, headers, body)
  if answered < issued_total then
    answered = answered + 1
    if status == 200 then
      ok = ok + 1
    else
      other = other + 1
    end
  end
  if not finished and answered >= wanted_total then
    finished = true
    local f = io.open(done_path, "a")
    if f then
      f:write(string.format("%d\t%d\t%d\n", thread_index or 0, ok, other))
      f:close()
    end
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  io.write(string.format(
    'BENCH_READS {"requests": %d, "duration_s": %.3f, "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
    summary.requests, summary.duration / 1e6, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout))
end
