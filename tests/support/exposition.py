"""A strict parser for the Prometheus text exposition format 0.0.4, for tests only.

Stricter than Prometheus itself where the format says "must": every sample
belongs to a family announced by ``# TYPE`` before it, a family's lines are
contiguous and its TYPE appears once, names and label names match the
documented patterns, label values use only the three escapes, values parse
as Go floats, histograms have ascending ``le`` buckets that never decrease,
end in ``+Inf`` and agree with ``_count``. Raises ``ValueError`` naming the
line on any violation.
"""
import math
import re

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count", "")}


def _float(text, where):
    if text in ("+Inf", "Inf"):
        return math.inf
    if text == "-Inf":
        return -math.inf
    if text == "NaN":
        return math.nan
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text):
        raise ValueError(f"{where}: bad value {text!r}")
    return float(text)


def _labels(text, where):
    labels, i = {}, 0
    while i < len(text):
        match = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)=\"").match(text, i)
        if not match:
            raise ValueError(f"{where}: bad label at {text[i:]!r}")
        name, i = match.group(1), match.end()
        value = []
        while True:
            if i >= len(text):
                raise ValueError(f"{where}: unterminated label value")
            char = text[i]
            if char == "\\":
                escaped = text[i + 1:i + 2]
                if escaped not in ("\\", '"', "n"):
                    raise ValueError(f"{where}: bad escape \\{escaped}")
                value.append("\n" if escaped == "n" else escaped)
                i += 2
            elif char == '"':
                i += 1
                break
            elif char == "\n":
                raise ValueError(f"{where}: raw newline in a label value")
            else:
                value.append(char)
                i += 1
        if name in labels:
            raise ValueError(f"{where}: label {name} twice")
        labels[name] = "".join(value)
        if i < len(text):
            if text[i] != ",":
                raise ValueError(f"{where}: expected ',' at {text[i:]!r}")
            i += 1
    return labels


def parse(text: str) -> dict:
    """Return ``{family: {"type", "help", "samples": [(name, labels, value)]}}``."""
    if not text.endswith("\n"):
        raise ValueError("the exposition must end with a newline")
    families, current, finished = {}, None, set()
    for number, line in enumerate(text[:-1].split("\n"), 1):
        where = f"line {number}"
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not METRIC_NAME.match(name):
                    raise ValueError(f"{where}: bad metric name {name!r}")
                if name in finished:
                    raise ValueError(f"{where}: family {name} is not contiguous")
                if current and current != name:
                    finished.add(current)
                family = families.setdefault(name, {"type": "untyped", "help": None, "samples": []})
                if family["samples"]:
                    raise ValueError(f"{where}: {parts[1]} for {name} after its samples")
                if parts[1] == "TYPE":
                    if len(parts) != 4 or parts[3] not in TYPES:
                        raise ValueError(f"{where}: bad TYPE line")
                    if family.get("typed"):
                        raise ValueError(f"{where}: second TYPE for {name}")
                    family["type"], family["typed"] = parts[3], True
                else:
                    if family["help"] is not None:
                        raise ValueError(f"{where}: second HELP for {name}")
                    family["help"] = parts[3] if len(parts) == 4 else ""
                current = name
            continue
        match = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?", line)
        if not match:
            raise ValueError(f"{where}: not a sample line: {line!r}")
        name, label_text, value_text = match.group(1), match.group(2) or "", match.group(3)
        if current is None:
            raise ValueError(f"{where}: sample before any TYPE")
        suffixes = SUFFIXES.get(families[current]["type"], ("",))
        if not any(name == current + suffix for suffix in suffixes):
            raise ValueError(f"{where}: sample {name} outside its family ({current})")
        families[current]["samples"].append((name, _labels(label_text, where), _float(value_text, where)))
    for name, family in families.items():
        if family["type"] == "histogram":
            _check_histogram(name, family["samples"])
        if family["type"] == "counter":
            for sample, labels, value in family["samples"]:
                if value < 0 or math.isnan(value):
                    raise ValueError(f"{name}: counter {labels} is {value}")
    return families


def _check_histogram(name, samples):
    series = {}
    for sample, labels, value in samples:
        key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        entry = series.setdefault(key, {"buckets": [], "sum": None, "count": None})
        if sample.endswith("_bucket"):
            if "le" not in labels:
                raise ValueError(f"{name}: bucket without le")
            entry["buckets"].append((_float(labels["le"], name), value))
        elif sample.endswith("_sum"):
            entry["sum"] = value
        else:
            entry["count"] = value
    for key, entry in series.items():
        bounds = [b for b, _ in entry["buckets"]]
        counts = [c for _, c in entry["buckets"]]
        if not bounds or bounds[-1] != math.inf:
            raise ValueError(f"{name}{key}: no +Inf bucket")
        if bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
            raise ValueError(f"{name}{key}: le not ascending")
        if counts != sorted(counts):
            raise ValueError(f"{name}{key}: buckets decrease")
        if entry["count"] != counts[-1] or entry["sum"] is None:
            raise ValueError(f"{name}{key}: _count {entry['count']} != +Inf bucket {counts[-1]}")


def value(families, name, **labels):
    """The value of the one sample ``name`` whose labels include ``labels`` (0 if absent)."""
    family = families.get(name) or next(
        (f for n, f in families.items() if name.startswith(n)), {"samples": []})
    found = [v for sample, have, v in family["samples"]
             if sample == name and all(have.get(k) == str(w) for k, w in labels.items())]
    if len(found) > 1:
        raise ValueError(f"{name}{labels}: {len(found)} samples match")
    return found[0] if found else 0
