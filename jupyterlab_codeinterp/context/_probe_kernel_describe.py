# Kernel-side half of the variable probe, first part: one value as a small dict.
#
# Like _probe_kernel_side.py, this file is NOT imported by the server: kernel_probe.py
# sends its text to the user's kernel ahead of _probe_kernel_side.py, as one script
# exec'd in a throw-away dict, under the same rules (Python >= 3.8, standard library
# only, never raise, O(1) work per value). _probe_kernel_side.py walks the namespace,
# orders names and fits their descriptions into the byte budget.

import sys as _sys

_PLAIN_TYPES = frozenset([int, float, str, bool, complex, bytes, bytearray, list, tuple,
                          dict, set, frozenset, type(None)])
_DATA_MODULES = ("numpy", "torch", "jax", "jaxlib", "tensorflow", "cupy", "dask", "xarray")


def _short(s, n):
    s = str(s)
    return s if len(s) <= n else s[: max(n - 1, 0)] + "\u2026"


def _val(v, n=40):
    """A JSON-safe, short rendering of one scalar sample value."""
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, int):
        return v if -(2 ** 53) < v < 2 ** 53 else _short(v, n)
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            return str(v)
        return float("%.6g" % v)
    if isinstance(v, str):
        return _short(v, n)
    try:
        return _short(v, n)  # numpy scalars, Timestamps, Decimals: their str is O(1)
    except Exception:
        return "<" + type(v).__name__ + ">"


def _type_name(t):
    try:
        mod = getattr(t, "__module__", "") or ""
        name = getattr(t, "__qualname__", None) or getattr(t, "__name__", "?")
        if not isinstance(mod, str) or not isinstance(name, str):
            return "?"
    except Exception:
        return "?"
    if mod in ("builtins", "__main__"):
        return name
    return mod.split(".")[0] + "." + name


class _Ctx(object):
    def __init__(self, args):
        self.args = args
        mods = _sys.modules
        pd = mods.get("pandas")
        np = mods.get("numpy")
        self.DataFrame = getattr(pd, "DataFrame", None) if pd else None
        self.Series = getattr(pd, "Series", None) if pd else None
        self.Index = getattr(pd, "Index", None) if pd else None
        self.ndarray = getattr(np, "ndarray", None) if np else None
        self.generic = getattr(np, "generic", None) if np else None
        pl = mods.get("polars")
        self.PlDataFrame = getattr(pl, "DataFrame", None) if pl else None
        self.PlSeries = getattr(pl, "Series", None) if pl else None
        self.max_cols = int(args.get("max_columns", 40))
        self.head_cols = int(args.get("head_columns", 12))
        self.head_rows = int(args.get("head_rows", 3))


def _sub(t, cls):
    try:
        return cls is not None and issubclass(t, cls)
    except Exception:
        return False


def _dtype_str(dt):
    try:
        s = str(dt)
        if s == "category":
            try:
                s = "category(%d)" % len(dt.categories)
            except Exception:
                pass
        return _short(s, 40)
    except Exception:
        return "?"


def _frame_memory(df):
    """Shallow memory of a DataFrame without one Series per column (slow on wide frames)."""
    try:
        mgr = df._mgr
        total = 0
        for b in mgr.blocks:
            total += int(getattr(b.values, "nbytes", 0) or 0)
        try:
            total += int(df.index.memory_usage(deep=False))
        except Exception:
            pass
        return total
    except Exception:
        pass
    try:
        if df.shape[1] <= 200:
            return int(df.memory_usage(index=True, deep=False).sum())
    except Exception:
        pass
    return None


def _describe_pandas_frame(name, df, ctx, level):
    nrows, ncols = len(df.index), len(df.columns)
    d = {"name": name, "kind": "DataFrame", "type": "pandas.DataFrame", "shape": [nrows, ncols]}
    mem = _frame_memory(df)
    if mem is not None:
        d["memory"] = mem
    cap = ctx.max_cols if level >= 1 else (min(20, ctx.max_cols) if level == 0 else 0)
    cap = min(cap, ncols)
    dtypes = df.dtypes
    dvals = dtypes.values
    cols = {}
    colnames = df.columns
    for j in range(cap):
        cols[_short(colnames[j], 60)] = _dtype_str(dvals[j])
    d["columns"] = cols
    if ncols > cap:
        d["columns_omitted"] = ncols - cap
        counts = {}
        for dt in dvals:
            counts[dt] = counts.get(dt, 0) + 1
        d["dtype_counts"] = dict((_dtype_str(k), v) for k, v in counts.items())
    try:
        idx = df.index
        if type(idx).__name__ != "RangeIndex":
            d["index"] = _short(type(idx).__name__ + "[" + str(idx.dtype) + "]", 60)
    except Exception:
        pass
    if level >= 2 and nrows:
        hc = min(ctx.head_cols, cap)
        try:
            sub = df.iloc[: ctx.head_rows, :hc]
            rows = sub.to_numpy(dtype=object).tolist()
            d["head"] = [[_val(v, 24) for v in row] for row in rows]
        except Exception:
            pass
    return d


def _describe(name, v, ctx, level):
    """One variable as a small dict; level 0 = minimal, 2 = richest."""
    t = type(v)
    if _sub(t, ctx.DataFrame):
        return _describe_pandas_frame(name, v, ctx, level)
    if _sub(t, ctx.Series):
        d = {"name": name, "kind": "Series", "type": "pandas.Series", "shape": [len(v)],
             "dtype": _dtype_str(v.dtype)}
        try:
            d["memory"] = int(v.memory_usage(index=True, deep=False))
        except Exception:
            pass
        if v.name is not None:
            d["series_name"] = _short(v.name, 60)
        if level >= 1 and len(v):
            try:
                d["head"] = [_val(x, 24) for x in v.iloc[: ctx.head_rows].tolist()]
            except Exception:
                pass
        return d
    if _sub(t, ctx.ndarray):
        d = {"name": name, "kind": "ndarray", "type": "numpy.ndarray", "shape": list(v.shape),
             "dtype": _dtype_str(v.dtype), "memory": int(v.nbytes)}
        if level >= 1 and v.size and v.dtype.kind in "biufcmMUS?":
            try:
                d["head"] = [_val(x, 24) for x in v.flat[: ctx.head_rows].tolist()]
            except Exception:
                pass
        return d
    if _sub(t, ctx.PlDataFrame):
        d = {"name": name, "kind": "DataFrame", "type": "polars.DataFrame",
             "shape": list(v.shape)}
        schema = v.schema
        cap = min(ctx.max_cols if level >= 2 else 12, len(schema))
        cols = {}
        for j, (k, dt) in enumerate(schema.items()):
            if j >= cap:
                break
            cols[_short(k, 60)] = _short(dt, 40)
        d["columns"] = cols
        if len(schema) > cap:
            d["columns_omitted"] = len(schema) - cap
        try:
            d["memory"] = int(v.estimated_size())
        except Exception:
            pass
        return d
    if _sub(t, ctx.PlSeries):
        return {"name": name, "kind": "Series", "type": "polars.Series", "shape": [len(v)],
                "dtype": _short(v.dtype, 40)}
    mod = (getattr(t, "__module__", "") or "").split(".")[0]
    if mod in _DATA_MODULES and hasattr(t, "shape") and hasattr(t, "dtype"):
        # tensors and other array-likes of well-known libraries: shape/dtype are O(1)
        d = {"name": name, "kind": "array", "type": _type_name(t)}
        try:
            shape = getattr(v, "shape", None)
            if shape is not None:
                d["shape"] = [s if isinstance(s, int) else _short(s, 20) for s in tuple(shape)]
            dt = getattr(v, "dtype", None)
            if dt is not None:
                d["dtype"] = _dtype_str(dt)
            dev = getattr(v, "device", None)
            if dev is not None and mod == "torch":
                d["device"] = _short(dev, 20)
        except Exception:
            pass
        return d
    if t is str or t is bytes or t is bytearray:
        d = {"name": name, "kind": "str" if t is str else "bytes", "type": t.__name__,
             "len": len(v)}
        n = 80 if level >= 1 else 30
        d["value" if len(v) <= n else "prefix"] = _short(v[:n] if t is str else repr(v[:n]), n + 1)
        return d
    if t is bool or t is int or t is float or t is complex or v is None or _sub(t, ctx.generic):
        return {"name": name, "kind": "scalar", "type": _type_name(t), "value": _val(v, 60)}
    if t in (list, tuple, set, frozenset, dict) or (
        _sub(t, dict) or _sub(t, list) or _sub(t, tuple) or _sub(t, set)
    ) and mod in ("builtins", "collections"):
        d = {"name": name, "kind": "container", "type": _type_name(t), "len": len(v)}
        if len(v):
            try:
                if _sub(t, dict):
                    k0 = next(iter(v))
                    d["first"] = _type_name(type(k0)) + " -> " + _type_name(type(v[k0]))
                    if level >= 1:
                        keys = []
                        for i, k in enumerate(v):
                            if i >= 8:
                                break
                            keys.append(_val(k, 30))
                        d["keys"] = keys
                else:
                    first = v[0] if _sub(t, (list, tuple)) else next(iter(v))
                    d["first"] = _type_name(type(first))
                    if level >= 1:
                        if type(first) is dict:
                            d["first_keys"] = [_val(k, 30) for i, k in zip(range(8), first)]
                        elif type(first) in (int, float, bool, str) or first is None:
                            d["first_value"] = _val(first, 40)
            except Exception:
                pass
        return d
    # anything else: its type only (repr of unknown objects can be arbitrarily slow)
    return {"name": name, "kind": "object", "type": _type_name(t)}


def _category(v, t, ctx):
    """'data' (frames/arrays), 'module', 'function', 'class' or 'value'."""
    if t in _PLAIN_TYPES:
        return "value"
    if (_sub(t, ctx.DataFrame) or _sub(t, ctx.Series) or _sub(t, ctx.ndarray)
            or _sub(t, ctx.PlDataFrame) or _sub(t, ctx.PlSeries)):
        return "data"
    mod = (getattr(t, "__module__", "") or "").split(".")[0]
    if mod in _DATA_MODULES and hasattr(t, "shape") and not isinstance(v, type):
        return "data"
    if t.__name__ == "module" and mod == "builtins":
        return "module"
    if isinstance(v, type):
        return "class"
    if t.__name__ in ("function", "builtin_function_or_method", "partial", "method",
                      "cython_function_or_method", "method-wrapper"):
        return "function"
    return "value"
