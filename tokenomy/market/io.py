"""Reading and writing market data sets.

Two formats:

* **YAML** (the Magentic Marketplace format): ``customers/*.yaml`` and ``businesses/*.yaml``,
  one entity per file. This is what the published data sets use and what
  ``tokenomy market generate`` writes by default.
* **Parquet** (tokenomy's columnar format, for markets of millions of agents where a million
  small files are slow to write and read): ``market.parquet/customers.parquet`` and
  ``market.parquet/businesses.parquet`` inside the folder.

:func:`load_market` detects which one a folder holds. A malformed file raises one
:class:`~tokenomy.errors.DataError` naming the file, the field and the value.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from pydantic import BaseModel, ValidationError

from tokenomy.errors import DataError
from tokenomy.market.dataset import Market, _ptr
from tokenomy.market.schema import BusinessFile, CustomerFile
from tokenomy.results import atomic_folder

try:  # libyaml is much faster; PyYAML falls back to pure Python without it
    _Loader: Any = yaml.CSafeLoader
    _Dumper: Any = yaml.CSafeDumper
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Loader = yaml.SafeLoader
    _Dumper = yaml.SafeDumper

M = TypeVar("M", bound=BaseModel)
ProgressFn = Callable[[int, int], None]

PARQUET_DIR = "market.parquet"


def _validation_to_data_error(path: Path, exc: ValidationError, raw: Any) -> DataError:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    value = err.get("input", raw)
    msg = err["msg"]
    if err["type"] == "missing":
        return DataError(path, loc, None, "this required field (it is missing)")
    if err["type"] == "extra_forbidden":
        return DataError(path, loc, value, "no such field (check the spelling)")
    return DataError(path, loc or None, value, msg[0].lower() + msg[1:])


def _read_entity(path: Path, model: type[M]) -> M:
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except UnicodeDecodeError:
        raise DataError(path, None, "<binary content>", "UTF-8 encoded YAML") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise DataError(
            path, None, f"<unparseable YAML{where}>", f"valid YAML: {problem}"
        ) from None
    if not isinstance(raw, dict):
        raise DataError(path, None, raw, f"a YAML mapping describing one {model.__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise _validation_to_data_error(path, exc, raw) from None


def _entity_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def load_market(
    path: str | Path,
    *,
    name: str | None = None,
    progress: ProgressFn | None = None,
) -> Market:
    """Load a market from a data-set folder (YAML or tokenomy Parquet format).

    Args:
        path: the folder (holding ``customers/`` and ``businesses/``, or ``market.parquet/``).
        name: label for the market; defaults to the folder's name.
        progress: optional callback ``progress(done, total)`` while reading files.

    Raises:
        DataError: a file is malformed, an id is duplicated, or the folder is not a data set.
    """
    folder = Path(path)
    label = name or folder.name
    if not folder.is_dir():
        raise DataError(folder, None, str(folder), "a data-set folder (it does not exist)")
    if (folder / PARQUET_DIR).is_dir():
        return _load_parquet(folder, label)
    cdir, bdir = folder / "customers", folder / "businesses"
    for sub in (cdir, bdir):
        if not sub.is_dir():
            raise DataError(
                folder, sub.name, None, f"a '{sub.name}/' sub-folder of YAML files (not found)"
            )
    cfiles, bfiles = _entity_files(cdir), _entity_files(bdir)
    if not cfiles:
        raise DataError(cdir, None, "<empty folder>", "at least one customer YAML file")
    if not bfiles:
        raise DataError(bdir, None, "<empty folder>", "at least one business YAML file")
    total = len(cfiles) + len(bfiles)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None and (done % 500 == 0 or done == total):
            progress(done, total)

    customers = _read_all(cfiles, CustomerFile, "customer", tick)
    businesses = _read_all(bfiles, BusinessFile, "business", tick)
    return Market.from_entities(customers, businesses, name=label, source=str(folder))


def _read_all(files: list[Path], model: type[M], kind: str, tick: Callable[[], None]) -> list[M]:
    """Read every file of one kind; ids must be unique."""
    entities: list[M] = []
    seen: dict[str, Path] = {}
    for f in files:
        entity = _read_entity(f, model)
        eid = str(entity.model_dump(include={"id"})["id"])
        if eid in seen:
            raise DataError(f, "id", eid, f"a unique {kind} id (also used by {seen[eid]})")
        seen[eid] = f
        entities.append(entity)
        tick()
    return entities


# ---------------------------------------------------------------------- writing


def write_market(
    market: Market,
    path: str | Path,
    *,
    fmt: str = "yaml",
    overwrite: bool = False,
    progress: ProgressFn | None = None,
) -> Path:
    """Write a market to a folder, atomically (a half-written folder never appears).

    Args:
        market: the market to write.
        path: target folder.
        fmt: ``"yaml"`` (Magentic format, one file per entity) or ``"parquet"``.
        overwrite: replace an existing non-empty folder.
        progress: optional callback ``progress(done, total)``.
    """
    target = Path(path)
    if fmt not in ("yaml", "parquet"):
        raise DataError(target, "format", fmt, "'yaml' or 'parquet'")
    with atomic_folder(target, overwrite=overwrite) as tmp:
        if fmt == "yaml":
            _write_yaml(market, tmp, progress)
        else:
            _write_parquet(market, tmp)
    return target


def _write_yaml(market: Market, folder: Path, progress: ProgressFn | None) -> None:
    (folder / "customers").mkdir()
    (folder / "businesses").mkdir()
    total = market.n_customers + market.n_businesses
    done = 0
    for c in range(market.n_customers):
        ent = market.customer_entity(c)
        text = yaml.dump(
            ent.model_dump(), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=88
        )
        (folder / "customers" / f"{ent.id}.yaml").write_text(text, encoding="utf-8")
        done += 1
        if progress is not None and done % 1000 == 0:
            progress(done, total)
    for b in range(market.n_businesses):
        bent = market.business_entity(b)
        text = yaml.dump(
            bent.model_dump(), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=88
        )
        (folder / "businesses" / f"{bent.id}.yaml").write_text(text, encoding="utf-8")
        done += 1
        if progress is not None and (done % 1000 == 0 or done == total):
            progress(done, total)


def _list_column(ptr: np.ndarray, values: pa.Array) -> pa.Array:
    return pa.ListArray.from_arrays(pa.array(ptr.astype(np.int32)), values)


def _write_parquet(market: Market, folder: Path) -> None:
    out = folder / PARQUET_DIR
    out.mkdir()
    items = pa.array(market.items)
    amenities = pa.array(market.amenities)
    customers = pa.table(
        {
            "id": market.customer_ids,
            "name": market.customer_names,
            "request": market.requests,
            "items": _list_column(market.c_item_ptr, items.take(pa.array(market.c_items))),
            "wtp_micro": _list_column(market.c_item_ptr, pa.array(market.c_wtp)),
            "amenities": _list_column(market.c_amen_ptr, amenities.take(pa.array(market.c_amens))),
        }
    )
    b_amen_lists = [
        [market.amenities[k] for k in np.flatnonzero(row)] for row in market.b_amenities
    ]
    businesses = pa.table(
        {
            "id": market.business_ids,
            "name": market.business_names,
            "description": market.descriptions,
            "rating": market.ratings,
            "progenitor_customer": market.progenitors,
            "items": _list_column(market.b_item_ptr, items.take(pa.array(market.b_items))),
            "price_micro": _list_column(market.b_item_ptr, pa.array(market.b_prices)),
            "amenities": pa.array(b_amen_lists, type=pa.list_(pa.string())),
            "min_price_factor": market.min_price_factor,
        }
    )
    meta = {b"tokenomy.amenities": "\x1f".join(market.amenities).encode("utf-8")}
    pq.write_table(customers, out / "customers.parquet")
    pq.write_table(businesses.replace_schema_metadata(meta), out / "businesses.parquet")


def _load_parquet(folder: Path, label: str) -> Market:
    src = folder / PARQUET_DIR
    try:
        ct = pq.read_table(src / "customers.parquet")
        bt = pq.read_table(src / "businesses.parquet")
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(
            src, None, "<unreadable>", f"tokenomy Parquet market files ({exc})"
        ) from None
    needed_c = {"id", "name", "request", "items", "wtp_micro", "amenities"}
    needed_b = {"id", "name", "description", "rating", "items", "price_micro", "amenities"}
    for table, needed, fname in ((ct, needed_c, "customers"), (bt, needed_b, "businesses")):
        missing = needed - set(table.column_names)
        if missing:
            raise DataError(src / f"{fname}.parquet", sorted(missing)[0], None, "this column")
    meta = bt.schema.metadata or {}
    declared = meta.get(b"tokenomy.amenities", b"").decode("utf-8")
    amen_vocab: dict[str, int] = {a: i for i, a in enumerate(declared.split("\x1f")) if a}
    items: dict[str, int] = {}

    def encode(col: pa.ChunkedArray, vocab: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
        arr = col.combine_chunks()
        offsets = arr.offsets.to_numpy().astype(np.int64)
        flat = arr.flatten().to_pylist()
        codes = np.fromiter(
            (vocab.setdefault(v, len(vocab)) for v in flat), dtype=np.int64, count=len(flat)
        )
        return offsets - offsets[0], codes

    b_ptr, b_items = encode(bt["items"], items)
    c_ptr, c_items = encode(ct["items"], items)
    ba_ptr, ba_codes = encode(bt["amenities"], amen_vocab)
    ca_ptr, ca_codes = encode(ct["amenities"], amen_vocab)
    b_amen = np.zeros((bt.num_rows, len(amen_vocab)), dtype=bool)
    rows = np.repeat(np.arange(bt.num_rows), np.diff(ba_ptr))
    b_amen[rows, ba_codes] = True
    mpf = (
        bt["min_price_factor"].to_numpy()
        if "min_price_factor" in bt.column_names
        else np.ones(bt.num_rows)
    )
    prog = (
        bt["progenitor_customer"].to_pylist()
        if "progenitor_customer" in bt.column_names
        else [None] * bt.num_rows
    )
    market = Market(
        name=label,
        items=list(items),
        amenities=list(amen_vocab),
        customer_ids=ct["id"].to_pylist(),
        customer_names=ct["name"].to_pylist(),
        requests=ct["request"].to_pylist(),
        c_item_ptr=c_ptr,
        c_items=c_items,
        c_wtp=ct["wtp_micro"].combine_chunks().flatten().to_numpy().astype(np.int64),
        c_amen_ptr=ca_ptr if len(ca_ptr) else _ptr([]),
        c_amens=ca_codes,
        business_ids=bt["id"].to_pylist(),
        business_names=bt["name"].to_pylist(),
        descriptions=bt["description"].to_pylist(),
        progenitors=prog,
        ratings=bt["rating"].to_numpy().astype(np.float64),
        min_price_factor=np.asarray(mpf, dtype=np.float64),
        b_item_ptr=b_ptr,
        b_items=b_items,
        b_prices=bt["price_micro"].combine_chunks().flatten().to_numpy().astype(np.int64),
        b_amenities=b_amen,
        source=str(folder),
    )
    _check_sorted_unique(market, src)
    return market


def _check_sorted_unique(market: Market, src: Path) -> None:
    for ids, fname in ((market.customer_ids, "customers"), (market.business_ids, "businesses")):
        for a, b in itertools.pairwise(ids):
            if not a < b:
                raise DataError(
                    src / f"{fname}.parquet", "id", b, f"ids sorted and unique (after '{a}')"
                )
