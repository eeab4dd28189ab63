-- wrk script for `teddy bench cloud`: each wrk thread is one simulated toy with one
-- connection, sending its own pre-signed requests in order until wrk's duration is up.
-- Signed requests carry single-use nonces, so a toy never sends one twice: one that runs out
-- sends health checks instead and says so in the result, which the bench treats as an error.
-- Usage: wrk -t N -c N -s replay.lua URL -- DIR   (DIR/toy-<n>.req for n = 0 .. N-1)
-- With TEDDY_BENCH_PORTS=p1,p2,... toy n connects to 127.0.0.1 on port p[n mod count + 1]
-- instead of URL's: toys spread evenly over several app servers, no proxy in between.

local threads = {}

local function ports()
  local list = {}
  for port in (os.getenv("TEDDY_BENCH_PORTS") or ""):gmatch("%d+") do
    table.insert(list, port)
  end
  return list
end

function setup(thread)
  local toy, servers = #threads, ports()
  thread:set("toy", toy)
  if #servers > 0 then
    thread.addr = wrk.lookup("127.0.0.1", servers[toy % #servers + 1])[1]
  end
  table.insert(threads, thread)
end

local function read_requests(path)
  -- The file holds records of "<byte length>\n<raw HTTP request>".
  local file = assert(io.open(path, "rb"))
  local data = file:read("*a")
  file:close()
  local list, pos = {}, 1
  while pos <= #data do
    local newline = data:find("\n", pos, true)
    local length = tonumber(data:sub(pos, newline - 1))
    table.insert(list, data:sub(newline + 1, newline + length))
    pos = newline + 1 + length
  end
  return list
end

local health_check = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

function init(args)
  requests = read_requests(args[1] .. "/toy-" .. toy .. ".req")
  sent, ran_out, statuses = 0, 0, {}
end

function request()
  if requests == nil then
    -- wrk checks the script's request once on its main Lua state, where init never runs.
    return health_check
  end
  sent = sent + 1
  if sent > #requests then
    ran_out = 1
    return health_check
  end
  return requests[sent]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, totals)
  local counts, ran_out_toys = {}, 0
  for _, thread in ipairs(threads) do
    ran_out_toys = ran_out_toys + thread:get("ran_out")
    for status, n in pairs(thread:get("statuses")) do
      counts[tostring(status)] = (counts[tostring(status)] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(counts) do
    table.insert(parts, string.format('"%s": %d', status, n))
  end
  local histogram = {}
  for i = 1, #latency do
    local micros, n = latency(i)
    table.insert(histogram, string.format("[%d, %d]", micros, n))
  end
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "statuses": {%s}, "socket_errors": %d, '
      .. '"toys_ran_out": %d, "latency_us": [%s]}\n',
    summary.requests, summary.duration, table.concat(parts, ", "),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    ran_out_toys, table.concat(histogram, ", ")))
end
