"""Growing waits: the one formula behind every retry and penalty in Stratus (Graph
retries, a binding's next attempt, a deleted account holding an address, sign-in
slowdown). Plain Python, so any layer may use it."""

import random


def growing_wait(attempt: int, *, first: float, cap: float) -> float:
    """`first` seconds at the first attempt, doubling with each further one, at most
    `cap`: first, 2·first, 4·first, …"""
    exponent = min(max(attempt, 1) - 1, 40)  # 2**40 already passes any cap
    return min(first * 2**exponent, cap)


def jittered(wait: float, *, fraction: float = 0.1) -> float:
    """`wait` plus up to `fraction` more, so retrying workers do not return in lockstep."""
    return wait + random.uniform(0, fraction * wait)
