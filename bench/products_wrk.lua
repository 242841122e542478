-- wrk script of the products listing benchmark (bench/products_listing.py writes the env).
--
-- BENCH_PATH    request path and query
-- BENCH_TOKENS  file with one bearer token per line (empty: no Authorization header);
--               requests go round-robin over them, each thread from its own offset
-- BENCH_RATE    requests per second of each thread; 0 = closed loop (next request as soon
--               as the response arrives)
-- BENCH_OUT     with a rate: file prefix; each thread writes one line per response,
--               "send_us latency_us status slot_latency_us", so the caller can drop the
--               warm-up and also report latency from the scheduled send time
--
-- The fixed rate keeps an absolute schedule per thread: every delay() claims the next slot
-- (start + k * interval) and waits until it, so a slow answer on one connection does not
-- slow the offered rate while another connection is free. A slot already past is sent at
-- once and counted as late, with its lateness. Its latency counted from the slot includes
-- that wait, the time a request of an open-loop client would have spent queued (without
-- it, a server that falls behind would look faster than it is: coordinated omission).

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock_id, bench_timespec *tp);
]]
local clock = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(1, clock)
  return tonumber(clock.tv_sec) * 1000000 + tonumber(clock.tv_nsec) / 1000
end

local path = os.getenv("BENCH_PATH") or "/"
local rate = tonumber(os.getenv("BENCH_RATE") or "0")
local out_prefix = os.getenv("BENCH_OUT") or ""

local tokens = {}
local tokens_file = os.getenv("BENCH_TOKENS") or ""
if tokens_file ~= "" then
  for line in io.lines(tokens_file) do
    if line ~= "" then tokens[#tokens + 1] = line end
  end
end

local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_index", thread_count)
  threads[#threads + 1] = thread
end

local sequence = 0
local sent = {}
local slot_of = {}
-- Slots claimed by delay() and not yet sent, oldest first. A connection calls request()
-- right after its delay ends, so the oldest slot is the one being sent (to within the
-- order of timers that fire in the same loop pass).
local waiting_slots = {}
local out = nil
local interval_us = 0
local next_slot = nil
late, late_us_max, late_us_sum, slots = 0, 0, 0, 0
bad_status = 0

function init(args)
  sequence = (thread_index or 1) * 7919
  if rate > 0 then
    interval_us = 1000000 / rate
    out = io.open(out_prefix .. "-" .. tostring(thread_index or 1) .. ".txt", "w")
  end
end

function request()
  sequence = sequence + 1
  local headers = {}
  if #tokens > 0 then
    headers["Authorization"] = "Bearer " .. tokens[(sequence % #tokens) + 1]
  end
  local id = tostring(thread_index or 1) .. "-" .. tostring(sequence)
  headers["X-Request-Id"] = id
  if out then
    local now = now_us()
    sent[id] = now
    slot_of[id] = table.remove(waiting_slots, 1) or now
  end
  return wrk.format("GET", path, headers)
end

function response(status, headers, body)
  if status ~= 200 then bad_status = bad_status + 1 end
  if out then
    local id = headers["x-request-id"] or headers["X-Request-Id"]
    local started = id and sent[id]
    if started then
      local now = now_us()
      local slot = slot_of[id]
      sent[id] = nil
      slot_of[id] = nil
      out:write(string.format("%.0f %.0f %d %.0f\n", started, now - started, status, now - slot))
    end
  end
end

if rate > 0 then
  function delay()
    local now = now_us()
    if next_slot == nil then next_slot = now end
    next_slot = next_slot + interval_us
    slots = slots + 1
    waiting_slots[#waiting_slots + 1] = next_slot
    local wait = next_slot - now
    if wait < 0 then
      late = late + 1
      late_us_sum = late_us_sum - wait
      if -wait > late_us_max then late_us_max = -wait end
      return 0
    end
    return math.floor(wait / 1000)
  end
end

function done(summary, latency, requests)
  local totals = { late = 0, late_us_max = 0, late_us_sum = 0, slots = 0, bad_status = 0 }
  for _, thread in ipairs(threads) do
    totals.late = totals.late + (thread:get("late") or 0)
    totals.late_us_sum = totals.late_us_sum + (thread:get("late_us_sum") or 0)
    totals.slots = totals.slots + (thread:get("slots") or 0)
    totals.bad_status = totals.bad_status + (thread:get("bad_status") or 0)
    local worst = thread:get("late_us_max") or 0
    if worst > totals.late_us_max then totals.late_us_max = worst end
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT {\"duration_us\": %d, \"requests\": %d, \"bytes\": %d, " ..
    "\"errors\": {\"connect\": %d, \"read\": %d, \"write\": %d, \"status\": %d, \"timeout\": %d}, " ..
    "\"latency_us\": {\"mean\": %.1f, \"p50\": %d, \"p90\": %d, \"p95\": %d, \"p99\": %d, \"p999\": %d, \"max\": %d}, " ..
    "\"bad_status\": %d, \"late\": %d, \"late_us_max\": %.0f, \"late_us_sum\": %.0f, \"slots\": %d}\n",
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency:percentile(99.9), latency.max,
    totals.bad_status, totals.late, totals.late_us_max, totals.late_us_sum, totals.slots))
end
