#!/usr/bin/env python3
"""Simulate the retry race of src/publish/backoff.rs: N writers, no coordination.

Each writer makes `writes` writes back to back (as tests/cli/many_clones_lose_nothing.rs does).
An attempt reads the remote tip, then pushes one window later (0.7-1.3 of a
unit window W); the push lands only if nothing else landed since the read.
A loser pauses per the schedule (in windows, x0.5-1.5 jitter) and tries
again, at most 11 attempts (--retries 10). Prints, per schedule, the share
of writes that ran out of attempts and the makespan in windows.

    python3 bench/backoff_sim.py            # 32 writers x 11 writes, 60 seeds
"""
import heapq
import random
import statistics
import sys


def simulate(schedule, writers=32, writes=11, attempts=11, seed=0):
    rng = random.Random(seed)
    last_landing = float("-inf")
    events = [(rng.random() * 0.05, "start", w) for w in range(writers)]
    heapq.heapify(events)
    state = {w: {"n": 1, "done": 0} for w in range(writers)}
    out_of_attempts = 0
    landed = 0
    now = 0.0
    while events:
        now, kind, w = heapq.heappop(events)
        s = state[w]
        if kind == "start":
            s["read"] = now
            s["window"] = rng.uniform(0.7, 1.3)
            heapq.heappush(events, (now + s["window"], "push", w))
            continue
        if last_landing < s["read"]:
            last_landing = now
            landed += 1
        elif s["n"] < attempts:
            pause = s["window"] * schedule(s["n"]) * (0.5 + rng.random())
            s["n"] += 1
            heapq.heappush(events, (now + pause, "start", w))
            continue
        else:
            out_of_attempts += 1
        s["n"] = 1
        s["done"] += 1
        if s["done"] < writes:
            heapq.heappush(events, (now, "start", w))
    return out_of_attempts / (writers * writes), now


def before(n):
    # Doubling, capped at 8 s = 27 windows of 0.3 s.
    return min(2 ** (n - 1), 27)


def now_(n):
    # src/publish/backoff.rs: 1, 2, 4, 8, then x3, capped at 200 windows.
    return min(2 ** (n - 1) if n <= 4 else 8 * 3 ** (n - 4), 200)


if __name__ == "__main__":
    writers = int(sys.argv[1]) if len(sys.argv) > 1 else 32
    writes = int(sys.argv[2]) if len(sys.argv) > 2 else 11
    for name, schedule in [("before (x2, 8 s cap)", before), ("now (x2 four times, then x3, 200 cap)", now_)]:
        runs = [simulate(schedule, writers, writes, seed=s) for s in range(60)]
        print(
            f"{name:36} out of attempts {statistics.mean(r[0] for r in runs) * 100:.4f} % of writes, "
            f"makespan {statistics.mean(r[1] for r in runs):.0f} windows"
        )
