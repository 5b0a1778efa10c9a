"""The sliding windows of `windows` in one process, for development without Redis:
what the Lua script does, step by step, on dictionaries keyed like Redis (so every
budget of one tenant in this process shares its windows)."""

from __future__ import annotations

import math
import threading
import time

from .windows import Fairness, Window

_state: dict[str, dict] = {}
_lock = threading.Lock()


def _leaving(slots: dict, excess: int, window: Window, now: float) -> float:
    freed = 0
    for index in sorted(slots):
        freed += slots[index]
        if freed >= excess:
            return (index + 1) * window.slot + window.length - now
    return window.length


class LocalWindows:
    def __init__(
        self,
        *,
        windows: list[Window],
        hold_key: str,
        slow_key: str,
        fairness: Fairness | None = None,
    ):
        self.windows, self.hold_key, self.slow_key = windows, hold_key, slow_key
        self.fairness = fairness

    def reset(self) -> None:
        fair = self.fairness.keys if self.fairness else []
        with _lock:
            for key in (self.hold_key, self.slow_key, *(w.key for w in self.windows), *fair):
                _state.pop(key, None)

    def slow(self, factor: float, seconds: float) -> None:
        with _lock:
            _state[self.slow_key] = {"factor": factor, "until": time.time() + seconds}

    def hold(self, seconds: float) -> None:
        with _lock:
            _state[self.hold_key] = {"until": time.time() + seconds}

    def used(self, index: int = 0) -> int:
        window = self.windows[index]
        with _lock:
            first = math.floor((time.time() - window.length) / window.slot)
            return sum(c for i, c in _state.get(window.key, {}).items() if i >= first)

    def ask(self, n: int, *, high: bool, reserve: float, dry: bool = False) -> float:
        with _lock:
            now = time.time()
            held = _state.get(self.hold_key, {}).get("until", 0) - now
            if held > 0:
                return held
            factor, slowed, bulk = 1.0, 0.0, 1 - reserve
            slow = _state.get(self.slow_key, {})
            if high:
                reserve = 0.0
            elif slow.get("until", 0) > now:
                factor, slowed = slow["factor"], slow["until"] - now
            wait = 0.0
            for position, window in enumerate(self.windows, start=1):
                base = math.floor(window.units * (1 - reserve))
                if n > base:
                    return -1.0
                limit = math.floor(base * factor)
                if n > limit:
                    wait = max(wait, slowed)
                slots = _state.setdefault(window.key, {})
                first = math.floor((now - window.length) / window.slot)
                for index in [i for i in slots if i < first]:
                    del slots[index]
                used = sum(slots.values())
                if used + n > limit:
                    wait = max(wait, _leaving(slots, used + n - limit, window, now))
                fair = self.fairness
                if fair is not None and position == fair.window:
                    cap = math.floor(fair.cap * (1 - reserve))
                    bulk_limits = (math.floor(window.units * bulk), math.floor(fair.cap * bulk))
                    mine, share, owed, owed_part, spare, idle_in = self._fair_share(
                        base, cap, first, window, now, bulk_limits
                    )
                    beyond = used + n + owed - limit
                    own_part = high and n <= spare and used + n + owed_part <= limit
                    if mine + n > share and beyond > 0 and not own_part:
                        wait = max(wait, min(_leaving(slots, beyond, window, now), idle_in))
            if wait > 0 or dry:
                return wait
            for window in self.windows:
                index = math.floor(now / window.slot)
                slots = _state[window.key]
                slots[index] = slots.get(index, 0) + n
            if self.fairness is not None:
                window = self.windows[self.fairness.window - 1]
                log = _state[self.fairness.keys[1]]
                for who in (self.fairness.tenant, *([self._high_key()] if high else [])):
                    member = (math.floor(now / window.slot), who)
                    log[member] = log.get(member, 0) + n
            return 0.0

    def _high_key(self) -> str:
        return f"{self.fairness.tenant}|h"

    def _fair_share(self, base, cap, first, window: Window, now: float, bulk_limits):
        fair = self.fairness
        log = _state.setdefault(fair.keys[1], {})
        for member in [m for m in log if m[0] < first]:
            del log[member]
        active = _state.setdefault(fair.keys[3], {})
        active[fair.tenant] = now
        for tenant in [t for t, asked in active.items() if asked <= now - fair.active_for]:
            del active[tenant]
        used: dict[str, int] = {}
        for (_, tenant), count in log.items():
            used[tenant] = used.get(tenant, 0) + count
        share = min(math.floor(base / len(active)), cap)
        part = share - min(math.floor(bulk_limits[0] / len(active)), bulk_limits[1])
        owed, owed_part, idle_in = 0, 0, window.length
        for tenant, asked in active.items():
            left = share - used.get(tenant, 0)
            if tenant != fair.tenant and left > 0:
                owed += left
                owed_part += min(left, part)
                idle_in = min(idle_in, asked + fair.active_for - now)
        spare = part - used.get(self._high_key(), 0)
        return used.get(fair.tenant, 0), share, owed, owed_part, spare, idle_in
