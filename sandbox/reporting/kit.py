"""The study kit: ledger rows, grid-point keys and the statistics every study reports, written once.

- `Headline`: one key number of a study beside the published one; `_asdict()` is the row the ledger reads
  from data["headline"].
- `point_key` / `parse_point`: a grid point is a dict of scalars; its key ("d_width=0.25,seed=3") names its
  record file and round-trips ints, floats, strings, booleans and None exactly.
- `mean_std`, `spread`, `rank_test_greater`, `spearman`, `paired_sign_test`, `wilcoxon_greater`: the summary
  statistics and one-sided tests (scipy.stats underneath), each returning plain floats.
"""

import math
import re
from typing import Any, NamedTuple, Optional, Sequence
from urllib.parse import quote, unquote

import numpy as np


class Headline(NamedTuple):
    """One key number of a study: ours (with its spread) beside the published value, for the claims ledger."""

    claim: str  # the claim id, e.g. "C8"
    quantity: str  # what is measured, in words
    ours: Any  # a number, or a short text when the quantity is not one number
    ours_spread: Any = None  # std over seeds (or a range), None when there is one run
    published: Any = None  # the paper's number, None when none is quoted
    source: str = ""  # where the published number comes from (paper, table, figure)
    setting_difference: str = ""  # how our setting differs from the paper's, "" when it does not


def headline_row(row) -> dict:
    """A ledger row as a dict: a Headline, a dict, or a list in Headline's field order (a JSON-encoded Headline)."""
    if isinstance(row, Headline):
        return row._asdict()
    if isinstance(row, dict):
        return row
    if isinstance(row, (list, tuple)) and 3 <= len(row) <= len(Headline._fields):
        return Headline(*row)._asdict()
    raise ValueError(f"a headline row is a Headline or a dict with keys {', '.join(Headline._fields)}; got {row!r}")


# ------------------------------------------------------------------------------------------------ grid points
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INT = re.compile(r"-?[0-9]+")
_FLOAT = re.compile(r"-?([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)([eE][-+]?[0-9]+)?|-?inf|nan")
_BARE = re.compile(r"[A-Za-z0-9_.~+@:%-]+")  # what quote(value, safe=_SAFE) leaves: no ',', '=', "'" or '/'
_LITERALS = {"True": True, "False": False, "None": None}
_MISSING = object()
_SAFE = "+@:"  # besides letters, digits and _.-~: every other character is %-escaped (',' '=' '/' "'" ' ' ...)


def _value_text(value) -> str:
    if value is None or isinstance(value, (bool, np.bool_)):
        return str(None if value is None else bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))  # the shortest text that reads back as the same float ('0.25', '1e-05')
    if isinstance(value, str):
        bare = quote(value, safe=_SAFE)
        # a string that would read back as a number or literal ('3', 'nan', 'True', '') is quoted: '3'
        return bare if value and _value_of(bare) == value else f"'{bare}'"
    raise TypeError(f"a grid point's values are int, float, str, bool or None; got {type(value).__name__} {value!r}")


def _value_of(text: str):
    if len(text) >= 2 and text[0] == text[-1] == "'":
        if len(text) > 2 and not _BARE.fullmatch(text[1:-1]):
            raise ValueError(f"bad value {text!r}")
        return unquote(text[1:-1])
    if text in _LITERALS:
        return _LITERALS[text]
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    if not _BARE.fullmatch(text):
        raise ValueError(f"bad value {text!r}")
    return unquote(text)


def point_key(point) -> str:
    """'name=value,...' with the names sorted: the record name of a grid point (a key string passes through)."""
    if isinstance(point, str):  # studies written before the kit name their points by key strings
        if not point or "/" in point or point in (".", ".."):
            raise ValueError(f"a grid point key must be a non-empty file name without '/'; got {point!r}")
        return point
    if not isinstance(point, dict) or not point:
        raise ValueError(f"a grid point is a non-empty dict of name -> scalar; got {point!r}")
    bad = [k for k in point if not (isinstance(k, str) and _NAME.fullmatch(k))]
    if bad:
        raise ValueError(f"grid point names must be identifiers ([A-Za-z_][A-Za-z0-9_]*); got {bad} in {point!r}")
    key = ",".join(f"{k}={_value_text(point[k])}" for k in sorted(point))
    if len(key.encode()) > 200:  # file names stop at 255 bytes; leave room for '.json' and temp-file affixes
        raise ValueError(f"grid point key is {len(key.encode())} bytes, over 200: shorten the names in {point!r}")
    return key


def parse_point(key: str) -> dict:
    """The grid point of a key: the inverse of point_key (ints, floats, strings, booleans and None exactly)."""
    point = {}
    for item in str(key).split(","):
        name, eq, text = item.partition("=")
        if not eq or not _NAME.fullmatch(name) or name in point:
            raise ValueError(f"grid point key {key!r}: {item!r} is not name=value with a new identifier name")
        try:
            point[name] = _value_of(text)
        except ValueError:
            raise ValueError(f"grid point key {key!r}: {item!r} holds no int, float, string or literal") from None
    return point


def select(results: dict, **where) -> dict:
    """The {key: result} entries of a grid whose parsed point has every given name = value."""
    return {k: r for k, r in results.items() if all(parse_point(k).get(n, _MISSING) == v for n, v in where.items())}


# ------------------------------------------------------------------------------------------------ statistics
class Significance(NamedTuple):
    statistic: float
    p: float


def _floats(values, what: str) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64).ravel()
    if a.size == 0:
        raise ValueError(f"{what}: no values")
    return a


def mean_std(values) -> tuple:
    """(mean, population std sqrt(mean (x - mean)^2)), the std None for a single value (numpy mean/std, ddof 0)."""
    a = _floats(values, "mean_std")
    return float(a.mean()), (float(a.std()) if a.size > 1 else None)


def spread(values) -> tuple:
    """(min, max) of the values: the range a handful of seeds spans (numpy min/max)."""
    a = _floats(values, "spread")
    return float(a.min()), float(a.max())


def rank_test_greater(a, b) -> Significance:
    """U = #{a_i > b_j} + #{a_i = b_j}/2 and the one-sided p that a is stochastically greater (Mann-Whitney 1947)."""
    from scipy import stats

    r = stats.mannwhitneyu(_floats(a, "rank_test_greater a"), _floats(b, "rank_test_greater b"), alternative="greater")
    return Significance(float(r.statistic), float(r.pvalue))


def spearman(x, y, alternative: str = "two-sided") -> Significance:
    """rho = Pearson correlation of the ranks of x and y, with its p (Spearman 1904; scipy.stats.spearmanr)."""
    from scipy import stats

    x, y = _floats(x, "spearman x"), _floats(y, "spearman y")
    if x.size != y.size:
        raise ValueError(f"spearman: x has {x.size} values, y has {y.size}")
    r = stats.spearmanr(x, y, alternative=alternative)
    return Significance(float(r.statistic), float(r.pvalue))


def paired_sign_test(a, b) -> Significance:
    """k = #{a_i > b_i} of the n untied pairs; one-sided p = P(Binomial(n, 1/2) >= k) (Dixon & Mood 1946)."""
    from scipy import stats

    d = _floats(a, "paired_sign_test a") - _floats(b, "paired_sign_test b")
    d = d[d != 0]
    if d.size == 0:
        return Significance(0.0, 1.0)  # every pair tied: no evidence either way
    k = int((d > 0).sum())
    return Significance(float(k), float(stats.binomtest(k, d.size, 0.5, alternative="greater").pvalue))


def wilcoxon_greater(a, b) -> Significance:
    """W+ = sum of the ranks of |a_i - b_i| with a_i > b_i; one-sided p for a > b (Wilcoxon 1945; scipy.stats)."""
    from scipy import stats

    r = stats.wilcoxon(_floats(a, "wilcoxon_greater a"), _floats(b, "wilcoxon_greater b"), alternative="greater")
    return Significance(float(r.statistic), float(r.pvalue))


def finite(values) -> list:
    """The finite values of a list (None, nan and +-inf dropped), as floats: what a mean over seeds may use."""
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def fraction(flags: Sequence[bool]) -> Optional[float]:
    """The fraction of true flags, None for no flags (e.g. the share of seeds that converged)."""
    flags = list(flags)
    return sum(map(bool, flags)) / len(flags) if flags else None
