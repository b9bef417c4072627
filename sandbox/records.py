"""JSON records on disk: plain types from tensors, atomic writes, append-only JSONL that survives a torn line.

Every file the project writes goes through here: study records, run summaries, metrics.jsonl rows and
per-point grid records. Writes are atomic (a temp file in the same folder, then `os.replace`), so a reader
never sees half a file; a JSONL file is appended one flushed line at a time, and a line cut off by a crash is
dropped on reading with a warning that names the file.
"""

import base64
import json
import math
import os
import tempfile
import warnings
import zlib
from pathlib import Path
from typing import Any, List, Optional

import numpy as np
import torch

_UMASK = os.umask(0)
os.umask(_UMASK)  # read once: os.umask can only be read by setting it


def jsonable(x: Any) -> Any:
    """Plain JSON types from numpy/torch values; non-finite floats become the strings 'inf', '-inf', 'nan'."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, torch.Tensor):
        return jsonable(x.detach().cpu().tolist())
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else ("nan" if math.isnan(x) else ("inf" if x > 0 else "-inf"))
    if isinstance(x, Path):
        return str(x)
    return x


def unjsonable(x: Any) -> Any:
    """The inverse of jsonable for numbers: the strings 'nan', 'inf', '-inf' back to floats, everywhere in x."""
    if isinstance(x, dict):
        return {k: unjsonable(v) for k, v in x.items()}
    if isinstance(x, list):
        return [unjsonable(v) for v in x]
    if isinstance(x, str) and x in ("nan", "inf", "-inf"):
        return float(x)
    return x


def write_text_atomic(path, text: str) -> Path:
    """Write `text` to path via a unique temp file in the same folder and os.replace: all or nothing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; a record is as readable as any file the user writes
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def write_json(path, obj: Any, indent: Optional[int] = None) -> Path:
    """JSON with sorted keys written atomically; compact unless `indent` is given (records hold long arrays)."""
    separators = (",", ":") if indent is None else (",", ": ")
    return write_text_atomic(
        path, json.dumps(jsonable(obj), sort_keys=True, indent=indent, separators=separators) + "\n"
    )


def read_json(path) -> Any:
    """json.load of path; a file that does not parse raises a ValueError naming it and the line."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from None


def append_jsonl(path, row: dict) -> None:
    """One JSON object per line, flushed, so a killed run keeps every row written so far."""
    with open(path, "a") as f:
        f.write(json.dumps(jsonable(row), sort_keys=True) + "\n")
        f.flush()


def read_jsonl(path) -> List[dict]:
    """The rows of a JSONL file; a torn *last* line (a crash mid-write) is dropped with a warning naming the file.

    A bad line anywhere else is damage, not a crash mid-write: it raises a ValueError naming the file and line.
    """
    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    rows = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            if i == len(lines):
                warnings.warn(
                    f"{path}: dropped a torn last line {i} ({err.msg}); it was cut off mid-write", stacklevel=2
                )
                break
            raise ValueError(f"{path}: line {i} is not valid JSON ({err.msg})") from None
    return rows


def rewrite_jsonl(path, rows: List[dict]) -> None:
    """Replace a JSONL file by `rows`, atomically."""
    write_text_atomic(path, "".join(json.dumps(jsonable(r), sort_keys=True) + "\n" for r in rows))


def pack_images(images: torch.Tensor) -> dict:
    """Images in [-1, 1] as zlib-compressed uint8 in base64, so a JSON record can hold a small sample grid."""
    u8 = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    return {"shape": list(u8.shape), "b64": base64.b64encode(zlib.compress(u8.tobytes(), 9)).decode("ascii")}


def unpack_images(packed: dict) -> torch.Tensor:
    """The inverse of pack_images, to 1/255 of the original values."""
    raw = np.frombuffer(zlib.decompress(base64.b64decode(packed["b64"])), dtype=np.uint8)
    return torch.from_numpy(raw.reshape(packed["shape"]).astype(np.float32)) / 127.5 - 1.0
