"""What the speed benchmarks share: arms timed in interleaved rounds, ratios per round, medians and spread.

The machine is shared, so the load drifts: each round times every arm once, in an order that alternates from
round to round, and a ratio is taken within a round (arms timed seconds apart see the same load). Reported:
the median of the rates and of the per-round ratios, with their min and max, and the load average around it.
One-thread arms are timed in this process's CPU time (`clock`): wall time also counts the time other processes
held the core, which on a loaded machine swamps a 10-20% difference; CPU time still sees their cache and memory
traffic. Wall time for anything with more threads or processes.
"""

import math
import os
import statistics
import time
from contextlib import contextmanager
from typing import Callable, Dict, List

import torch


def load() -> List[float]:
    """The 1, 5 and 15 minute load averages (os.getloadavg), rounded."""
    return [round(x, 2) for x in os.getloadavg()]


def interleaved(arms: Dict[str, Callable[[], float]], rounds: int) -> Dict[str, List[float]]:
    """name -> the rate each round measured: every arm once per round, the order reversed every other round."""
    names, rates = list(arms), {name: [] for name in arms}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            rates[name].append(arms[name]())
    return rates


def spread(values: List[float]) -> dict:
    """median, min, max of a list of numbers."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def ratios(rates: Dict[str, List[float]], base: str) -> Dict[str, dict]:
    """name -> spread of rate / base rate, taken within each round (the load of one round cancels)."""
    return {
        name: spread([a / b for a, b in zip(values, rates[base])]) for name, values in rates.items() if name != base
    }


def parity_verdict(values: Dict[str, List[float]], seeds: int) -> dict:
    """bf16 against fp32 over paired seeds: the means, stds, the difference bf16 - fp32 and whether it is within 2
    standard errors of that difference (sqrt(s_fp32^2 / n + s_bf16^2 / n)); no verdict (None) from one seed."""
    mean = {p: statistics.fmean(v) for p, v in values.items()}
    std = {p: statistics.stdev(v) if len(v) > 1 else math.nan for p, v in values.items()}
    se = math.sqrt(sum(s**2 / seeds for s in std.values()))
    diff = mean["bf16"] - mean["fp32"]
    return dict(
        mean=mean, std=std, diff_bf16_minus_fp32=diff, se_diff=se,
        parity=bool(abs(diff) <= 2 * se) if seeds > 1 else None,
    )  # fmt: skip


def clock(threads: int) -> Callable[[], float]:
    """time.process_time for one thread (the CPU time this process ran), else time.perf_counter (wall time)."""
    return time.process_time if threads == 1 else time.perf_counter


def timed(fn: Callable[[], object], work: float, now: Callable[[], float] = time.perf_counter) -> float:
    """work / seconds of one call of fn (a rate: steps, images or points per second), seconds by `now`."""
    t0 = now()
    fn()
    return work / (now() - t0)


def report_line(name: str, s: dict, unit: str = "x") -> str:
    """'name: median (min-max)'."""
    return f"{name}: {s['median']:.3g}{unit} (range {s['min']:.3g}-{s['max']:.3g})"


@contextmanager
def torch_threads(n: int):
    """Run the block with torch's CPU thread count set to n, the caller's count restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
