"""Sliding windows in Redis shared by every worker process and machine, updated
atomically by one Lua script that reads Redis's clock: the machinery under the write
budget (`budget.WriteBudget`) and the read budget (`reads.ReadBudget`).

Each window is a Redis hash of time slots (1/150 of the window) to units (writes or
resource units). A slot is counted while any part of it lies within the window, so the
count is never below the truth. `ask(n)` either counts n units in every window (they
fit in all of them) or counts nothing and says how many seconds until they would.

Fair share: one window shared by many tenants (the application-wide quota) may be
divided fairly. Each tenant that asked for units in the last `active_for` seconds is
active; each active tenant's share is the window's limit divided by the active
tenants, capped by what the tenant may use on its own (`cap`). A tenant may always use
its share; beyond it only what leaves every other active tenant the rest of its share.
So a big tenant cannot starve the small ones, and when they are idle (or used their
share) it takes the rest. The reserve is divided the same way: beyond its share a
tenant may still send high-priority writes up to its part of the reserve (its share less
its bulk share) as long as every other tenant keeps its own part, even while the others'
bulk shares wait. So a password push of a tenant whose bulk bind burst while it was
alone does not wait for that burst to leave the window when other tenants arrive. The
writes of each tenant in that window are kept as a log (a sorted set of slot|tenant
members, their counts, and a running total per tenant; its high-priority writes also
under "tenant|h"), so each ask costs the number of active tenants, not the number of
slots times tenants.

Without Redis (development) `LocalWindows` does the same in one process.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from directory.redis_pool import redis_client

log = logging.getLogger(__name__)

SLOTS_PER_WINDOW = 150

# KEYS: hold, slowdown, one hash per window, then (with fair share) the shared window's
# per-tenant totals, log, log counts and active tenants. ARGV: n, high (0/1), reserve
# share, dry (1: only say), fair window (1-based, 0: none), tenant, cap, active seconds,
# then limit, length, slot of each window. Returns "0" when the n units were counted in
# every window (or would be, when dry), "-1" when they can never fit, or else the seconds
# until they would (as a string: Lua numbers are truncated to integers on the way out).
_ASK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local n = tonumber(ARGV[1])
local high = ARGV[2] == '1'
local fair = tonumber(ARGV[5])
local tenant = ARGV[6]
local windows = (#ARGV - 8) / 3
local F = 2 + windows
local held = redis.call('PTTL', KEYS[1])
if held > 0 then return tostring(held / 1000) end
local reserve, factor, slowed = 0, 1, 0
if not high then
  reserve = tonumber(ARGV[3])
  factor = tonumber(redis.call('GET', KEYS[2]) or '1')
  slowed = redis.call('PTTL', KEYS[2]) / 1000
end

local function leaving(slots, excess, slot, length)
  table.sort(slots, function(a, b) return a[1] < b[1] end)
  local freed = 0
  for _, s in ipairs(slots) do
    freed = freed + s[2]
    if freed >= excess then return (s[1] + 1) * slot + length - now end
  end
  return length
end

local function fair_share(base, cap, first, length, bulk_base, bulk_cap)
  local gone = redis.call('ZRANGEBYSCORE', KEYS[F + 2], '-inf', first - 1)
  for _, m in ipairs(gone) do
    local c = tonumber(redis.call('HGET', KEYS[F + 3], m) or '0')
    local who = string.sub(m, string.find(m, '|', 1, true) + 1)
    if redis.call('HINCRBY', KEYS[F + 1], who, -c) <= 0 then
      redis.call('HDEL', KEYS[F + 1], who)
    end
    redis.call('HDEL', KEYS[F + 3], m)
  end
  if #gone > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[F + 2], '-inf', first - 1) end
  local active_for = tonumber(ARGV[8])
  redis.call('ZADD', KEYS[F + 4], now, tenant)
  redis.call('ZREMRANGEBYSCORE', KEYS[F + 4], '-inf', now - active_for)
  redis.call('PEXPIRE', KEYS[F + 4], math.ceil(active_for * 1000))
  local active = redis.call('ZRANGE', KEYS[F + 4], 0, -1, 'WITHSCORES')
  local used = {}
  local flat = redis.call('HGETALL', KEYS[F + 1])
  for k = 1, #flat, 2 do used[flat[k]] = tonumber(flat[k + 1]) end
  local share = math.min(math.floor(base / (#active / 2)), cap)
  local part = share - math.min(math.floor(bulk_base / (#active / 2)), bulk_cap)
  local owed, owed_part, idle_in = 0, 0, length
  for k = 1, #active, 2 do
    local left = share - (used[active[k]] or 0)
    if active[k] ~= tenant and left > 0 then
      owed = owed + left
      owed_part = owed_part + math.min(left, part)
      idle_in = math.min(idle_in, tonumber(active[k + 1]) + active_for - now)
    end
  end
  local spare = part - (used[tenant .. '|h'] or 0)  -- of its reserve part, unused
  return used[tenant] or 0, share, owed, owed_part, spare, idle_in
end

local wait = 0
local slots_now = {}
for w = 1, windows do
  local i = 2 + w
  local j = 9 + (w - 1) * 3
  local base = math.floor(tonumber(ARGV[j]) * (1 - reserve))
  local length = tonumber(ARGV[j + 1])
  local slot = tonumber(ARGV[j + 2])
  if n > base then return '-1' end
  local limit = math.floor(base * factor)
  if n > limit then wait = math.max(wait, slowed) end
  local first = math.floor((now - length) / slot)
  local used, slots = 0, {}
  local flat = redis.call('HGETALL', KEYS[i])
  for k = 1, #flat, 2 do
    local index = tonumber(flat[k])
    if index < first then
      redis.call('HDEL', KEYS[i], flat[k])
    else
      used = used + tonumber(flat[k + 1])
      table.insert(slots, {index, tonumber(flat[k + 1])})
    end
  end
  if used + n > limit then wait = math.max(wait, leaving(slots, used + n - limit, slot, length)) end
  if w == fair then
    local cap = math.floor(tonumber(ARGV[7]) * (1 - reserve))
    local bulk = 1 - tonumber(ARGV[3])
    local mine, share, owed, owed_part, spare, idle_in = fair_share(
      base, cap, first, length,
      math.floor(tonumber(ARGV[j]) * bulk), math.floor(tonumber(ARGV[7]) * bulk))
    local beyond = used + n + owed - limit
    local own_part = high and n <= spare and used + n + owed_part <= limit
    if mine + n > share and beyond > 0 and not own_part then
      wait = math.max(wait, math.min(leaving(slots, beyond, slot, length), idle_in))
    end
  end
  slots_now[w] = {math.floor(now / slot), math.ceil((length + slot) * 1000)}
end
if wait > 0 or ARGV[4] == '1' then return tostring(wait) end
for w = 1, windows do
  redis.call('HINCRBY', KEYS[2 + w], tostring(slots_now[w][1]), n)
  redis.call('PEXPIRE', KEYS[2 + w], slots_now[w][2])
end
if fair > 0 then
  local whose = {tenant}
  if high then whose[2] = tenant .. '|h' end
  for _, who in ipairs(whose) do
    local member = tostring(slots_now[fair][1]) .. '|' .. who
    redis.call('HINCRBY', KEYS[F + 1], who, n)
    redis.call('HINCRBY', KEYS[F + 3], member, n)
    redis.call('ZADD', KEYS[F + 2], slots_now[fair][1], member)
  end
  for k = 1, 3 do redis.call('PEXPIRE', KEYS[F + k], slots_now[fair][2]) end
end
return '0'
"""


@dataclass(frozen=True)
class Window:
    """One limit as a budget applies it: scaled, with the transit allowance."""

    key: str
    units: int
    length: float
    slot: float

    @classmethod
    def of(cls, key: str, units: int, seconds: float, transit: float) -> Window:
        return cls(key=key, units=units, length=seconds + transit, slot=seconds / SLOTS_PER_WINDOW)


@dataclass(frozen=True)
class Fairness:
    """Divide window number `window` (1-based) fairly between the tenants using it."""

    prefix: str  # of the shared window's per-tenant keys
    window: int
    tenant: str
    cap: int  # the most the tenant may use of that window on its own
    active_for: float  # seconds a tenant counts as active after it last asked

    @property
    def keys(self) -> list[str]:
        return [f"{self.prefix}:{part}" for part in ("used", "log", "counts", "active")]


class SlidingWindows:
    """`ask(n, high=, reserve=, dry=)`: 0 when n units were counted in every window,
    -1 when they never fit, else seconds to wait. Raises the Redis client's connection
    errors (`redis_errors()`); callers decide what an outage means."""

    def __init__(
        self,
        *,
        windows: list[Window],
        hold_key: str,
        slow_key: str,
        redis_url: str,
        fairness: Fairness | None = None,
    ):
        self.windows, self.hold_key, self.slow_key = windows, hold_key, slow_key
        self.fairness = fairness
        self.redis = redis_client(redis_url)
        self._script = self.redis.register_script(_ASK)

    @property
    def keys(self) -> list[str]:
        fair = self.fairness.keys if self.fairness else []
        return [self.hold_key, self.slow_key, *(w.key for w in self.windows), *fair]

    def ask(self, n: int, *, high: bool, reserve: float, dry: bool = False) -> float:
        fair = self.fairness
        args: list = [n, 1 if high else 0, reserve, 1 if dry else 0]
        args += [fair.window, fair.tenant, fair.cap, fair.active_for] if fair else [0, "", 0, 0]
        for window in self.windows:
            args += [window.units, window.length, window.slot]
        return float(self._script(keys=self.keys, args=args))

    def slow(self, factor: float, seconds: float) -> None:
        self.redis.set(self.slow_key, str(factor), ex=math.ceil(seconds))

    def hold(self, seconds: float) -> None:
        self.redis.set(self.hold_key, "1", px=max(1, math.ceil(seconds * 1000)))

    def used(self, index: int = 0) -> int:
        """Units counted in window `index` right now."""
        window = self.windows[index]
        seconds, micros = self.redis.time()
        first = int((seconds + micros / 1_000_000 - window.length) // window.slot)
        slots = self.redis.hgetall(window.key)
        return sum(int(count) for slot, count in slots.items() if int(slot) >= first)

    def reset(self) -> None:
        self.redis.delete(*self.keys)
