-- One wrk script for every benchmark row and for the pre-issuing steps; configured by
-- environment variables (bench/lib/bench.py sets them):
--
--   BENCH_METHOD, BENCH_PATH     the request line (default GET /)
--   BENCH_HEADERS                extra headers, "Name: value" lines separated by "\n"
--   BENCH_BODY                   a fixed body
--   BENCH_INPUT                  a file of single-use inputs, one per line: "BODY" or
--                                "BODY<TAB>COOKIE"; each request takes the next line.
--                                When the file is exhausted the thread stops (so a row
--                                never replays a spent code or refresh token), unless
--                                BENCH_CYCLE=1, which starts again from the first line.
--   BENCH_CAPTURE                a Lua pattern with one capture, searched in the Location
--                                header (BENCH_CAPTURE_IN=location, the default) or the
--                                body (BENCH_CAPTURE_IN=body) of each response; captures
--                                are appended to BENCH_OUTPUT, and the thread stops after
--                                BENCH_COUNT of them.
--   BENCH_REPORT                 where done() writes its one-line summary (key=value).
--   BENCH_STOPFILE               created when the thread stops early (inputs exhausted
--                                or enough captures): wrk itself only notices at the end
--                                of -d, so bench.py sends it SIGINT on seeing this file.
--
-- Run with one thread (-t1): inputs and captures are per thread.

local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/"
local body = os.getenv("BENCH_BODY")
local input = os.getenv("BENCH_INPUT")
local cycle = os.getenv("BENCH_CYCLE") == "1"
local capture = os.getenv("BENCH_CAPTURE")
local capture_in = os.getenv("BENCH_CAPTURE_IN") or "location"
local output = os.getenv("BENCH_OUTPUT")
local count = tonumber(os.getenv("BENCH_COUNT") or "0")
local report = os.getenv("BENCH_REPORT")
local stopfile = os.getenv("BENCH_STOPFILE")

local function stop_thread()
  if stopfile then
    local f = io.open(stopfile, "w")
    if f then f:close() end
  end
  wrk.thread:stop()
end

local headers = {}
for line in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^\n]+") do
  local name, value = string.match(line, "^([^:]+):%s*(.*)$")
  if name then headers[name] = value end
end

wrk.method = method
wrk.path = path
wrk.body = body
wrk.headers = headers

if input then
  local lines = {}
  for line in io.lines(input) do
    if line ~= "" then lines[#lines + 1] = line end
  end
  local next_line = 1
  local stopped = false

  request = function()
    if next_line > #lines then
      if cycle and #lines > 0 then
        next_line = 1
      else
        if not stopped then
          stopped = true
          stop_thread()
        end
        -- Something must still be sent; a request the server refuses without state.
        return wrk.format("GET", "/healthz", {}, nil)
      end
    end
    local line = lines[next_line]
    next_line = next_line + 1
    local b, cookie = string.match(line, "^([^\t]*)\t(.*)$")
    if not b then b = line end
    local h = {}
    for k, v in pairs(headers) do h[k] = v end
    if cookie and cookie ~= "" then h["Cookie"] = cookie end
    if b == "" then b = nil end
    return wrk.format(method, path, h, b)
  end
end

if capture then
  local out = assert(io.open(output, "a"))
  local captured = 0
  local done_capturing = false
  response = function(status, hdrs, resp_body)
    if done_capturing then return end
    local text
    if capture_in == "body" then
      text = resp_body
    else
      text = hdrs["Location"] or hdrs["location"]
    end
    if text then
      local value = string.match(text, capture)
      if value then
        out:write(value, "\n")
        captured = captured + 1
        if count > 0 and captured >= count then
          done_capturing = true
          out:flush()
          stop_thread()
        end
      end
    end
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  local line = string.format(
    "requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.1f "
      .. "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout)
  if report then
    local f = assert(io.open(report, "w"))
    f:write(line)
    f:close()
  else
    io.write(line)
  end
end
