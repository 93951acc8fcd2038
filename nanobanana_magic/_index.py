"""An SQLite index of an output folder, so that big folders answer questions fast.

The journal, the run manifests and the annotations file stay the source of truth; the
index (`index.sqlite` in the folder) is derived from them and can be deleted at any time:
the next question rebuilds it. It keeps up incrementally: it remembers how far it has
read the journal and the annotations file (and which file that was), and on each
question reads only what was appended since, re-reading the manifests of the runs those
lines name (and of runs it last saw unfinished, whose manifest may change without a
journal line, e.g. a cancel). Several kernels may use one folder: SQLite's locking (WAL
mode, a busy timeout, catching up inside one write transaction) keeps them from applying
the same lines twice, and applying a line twice would change nothing anyway.

Everything read from the folder is untrusted: run ids must have the store's format,
manifests are parsed by `Store.load_run`, annotations folded by `Annotations.apply`, and
every query is parameterised.

Queries for front ends (history, show, cost, the gallery):

* `images(...)` — (run id, image index) of matching images, the gallery's list; the
  gallery loads only the runs of the page it shows.
* `search(...)` — run ids, newest first, matching a text (prompt, note, tags, the same
  case-insensitive containment as `RunFilter`), a tag, picks, a minimum rating, a model,
  a size, a start time, a status; `count(...)` counts them. The gallery pages with
  `limit` and `offset` and loads only the runs it shows (`Store.load_run`).
* `run_ids()`, `resolve(text)` — every run id (oldest first); a unique prefix or suffix.
* `totals()` — paid and simulated cost of the completed runs.
* `cached_run_id(request_key)` — the newest completed run of a request key.
* `reuse_counts(run_ids)` — how often each run was served from the cache.
* `children(run_id)` — the runs that used one of its images as a reference (lineage).
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from ._annotations import ANNOTATIONS, Annotations
from ._errors import ConfigurationError, ValidationError
from ._jsonl import json_objects
from ._store import RUN_ID, UnreadableRunError
from ._sweep_record import SWEEPS, UnreadableSweepError, is_sweep_id, read_sweep_record

log = logging.getLogger("nanobanana_magic")

INDEX_FILE = "index.sqlite"
_SCHEMA_VERSION = "5"
_FINAL = ("completed", "failed")
_BUSY_MS = 10_000
_UNSEEN_SECONDS = 86_400  # how long a run named without a manifest is looked for again

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    status TEXT NOT NULL,
    prompt TEXT NOT NULL,
    model TEXT NOT NULL,
    size TEXT NOT NULL,
    resolution TEXT NOT NULL,
    request_key TEXT NOT NULL,
    cost REAL NOT NULL,
    simulated INTEGER NOT NULL,
    images INTEGER NOT NULL,
    image_indexes TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS unseen (run_id TEXT PRIMARY KEY, since REAL NOT NULL);
CREATE TABLE IF NOT EXISTS unreadable (run_id TEXT PRIMARY KEY);
CREATE INDEX IF NOT EXISTS runs_key ON runs (request_key, status);
CREATE TABLE IF NOT EXISTS notes (run_id TEXT PRIMARY KEY, note TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tags (run_id TEXT NOT NULL, tag TEXT NOT NULL,
    PRIMARY KEY (run_id, tag));
CREATE TABLE IF NOT EXISTS ratings (run_id TEXT NOT NULL, image INTEGER NOT NULL,
    rating INTEGER NOT NULL, PRIMARY KEY (run_id, image));
CREATE TABLE IF NOT EXISTS picks (run_id TEXT NOT NULL, image INTEGER NOT NULL,
    PRIMARY KEY (run_id, image));
CREATE TABLE IF NOT EXISTS reuse (run_id TEXT PRIMARY KEY, hits INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS ids (run_id TEXT PRIMARY KEY, reversed TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ids_reversed ON ids (reversed);
CREATE TABLE IF NOT EXISTS totals (what TEXT PRIMARY KEY, dollars REAL NOT NULL);
CREATE TABLE IF NOT EXISTS sweeps (
    sweep_id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    template TEXT NOT NULL,
    description TEXT NOT NULL,
    cells INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sweep_cells (sweep_id TEXT NOT NULL, position INTEGER NOT NULL,
    run_id TEXT NOT NULL, cached INTEGER NOT NULL, PRIMARY KEY (sweep_id, position));
CREATE INDEX IF NOT EXISTS sweep_cells_run ON sweep_cells (run_id, cached);
CREATE TABLE IF NOT EXISTS unreadable_sweeps (sweep_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS parents (run_id TEXT NOT NULL, parent TEXT NOT NULL,
    image INTEGER NOT NULL, PRIMARY KEY (run_id, parent, image));
CREATE INDEX IF NOT EXISTS parents_parent ON parents (parent);
"""


_OPEN: collections.OrderedDict[str, RunIndex] = collections.OrderedDict()
_OPEN_MAX = 8
_OPEN_LOCK = threading.Lock()


def index_of(store) -> RunIndex:
    """The index of `store`'s folder, one per folder and process (its connection is
    reused by every Store of that folder: the magics make one per command)."""
    key = str(store.root)
    with _OPEN_LOCK:
        index = _OPEN.get(key)
        if index is None:
            index = _OPEN[key] = RunIndex(store)
            while len(_OPEN) > _OPEN_MAX:
                _OPEN.popitem(last=False)[1].close()
        _OPEN.move_to_end(key)
        return index


def _contains(haystack: str | None, needle: str) -> int:
    """Python's case-insensitive containment, as `RunFilter.matches` does it."""
    return int(needle in (haystack or "").lower())


class RunIndex:
    """The index of one output folder (see the module docstring)."""

    def __init__(self, store):
        self.store = store
        self.path = Path(store.root) / INDEX_FILE
        self._connection: sqlite3.Connection | None = None
        self._in_memory = False
        self._lock = threading.RLock()  # one connection, used by one thread at a time

    # -- the connection ---------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            try:
                self.store.ensure()
                connection = self._open(str(self.path))
                self._in_memory = False
            except (ConfigurationError, sqlite3.OperationalError) as exc:
                # a folder we may read but not write (shared, mounted read-only): the
                # same index, kept in memory for this process
                log.info("keeping the index of %s in memory (%s)", self.store.root, exc)
                connection = self._open(":memory:")
                self._in_memory = True
            self._connection = connection
        return self._connection

    @staticmethod
    def _open(target: str) -> sqlite3.Connection:
        connection = sqlite3.connect(
            target, timeout=_BUSY_MS / 1000, isolation_level=None, check_same_thread=False
        )
        try:
            connection.execute(f"PRAGMA busy_timeout = {_BUSY_MS}")
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.create_function("contains", 2, _contains, deterministic=True)
            connection.executescript(_SCHEMA)
        except BaseException:
            connection.close()
            raise
        return connection

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    @contextlib.contextmanager
    def _fresh(self) -> Iterator[sqlite3.Connection]:
        """The connection, caught up with the folder; rebuilt once if the file is damaged
        or was deleted under us."""
        with self._lock:
            for attempt in (1, 2):
                try:
                    if (
                        self._connection is not None
                        and not self._in_memory
                        and not self.path.exists()
                    ):
                        self.close()  # deleted: start again from the source of truth
                    connection = self._connect()
                    self._catch_up(connection)
                    break
                except sqlite3.DatabaseError as exc:
                    if attempt == 2:
                        raise
                    log.warning("rebuilding the index %s (%s)", self.path, exc)
                    self.close()
                    for suffix in ("", "-wal", "-shm"):
                        Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            yield connection

    def refresh(self) -> None:
        """Catch up with what other kernels (or this one) appended to the folder."""
        with self._fresh():
            pass

    # -- catching up ------------------------------------------------------------------------
    def _catch_up(self, db: sqlite3.Connection) -> None:
        journal = Path(self.store.journal_path)
        notes = Path(self.store.root) / ANNOTATIONS
        # cheap check first: nothing appended and nothing unfinished to look at again
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        if (
            meta.get("schema") == _SCHEMA_VERSION
            and meta.get("journal") == _identity(journal, int(meta.get("journal_at", 0)))
            and meta.get("annotations") == _identity(notes, int(meta.get("annotations_at", 0)))
            and _size(journal) == int(meta.get("journal_at", 0))
            and _size(notes) == int(meta.get("annotations_at", 0))
            and meta.get("unfinished") == "0"
        ):
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            self._apply(db, meta, journal, notes)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _apply(self, db, meta: dict, journal: Path, notes: Path) -> None:
        journal_at = int(meta.get("journal_at", 0))
        notes_at = int(meta.get("annotations_at", 0))
        rebuild = (
            meta.get("schema") != _SCHEMA_VERSION
            or meta.get("journal") != _identity(journal, journal_at)
            or _size(journal) < journal_at
        )
        if rebuild:
            for table in (
                *("runs", "reuse", "unseen", "unreadable", "ids", "totals", "meta"),
                *("sweeps", "sweep_cells", "unreadable_sweeps", "parents"),
            ):
                db.execute(f"DELETE FROM {table}")
            journal_at = 0
        if (
            rebuild
            or meta.get("annotations") != _identity(notes, notes_at)
            or _size(notes) < notes_at
        ):
            for table in ("notes", "tags", "ratings", "picks"):
                db.execute(f"DELETE FROM {table}")
            notes_at = 0
        touched: set[str] = set()
        sweeps: set[str] = set()
        entries, journal_end = _read_from(journal, journal_at)
        for entry in entries:
            if entry.get("event") == "sweep" and is_sweep_id(entry.get("sweep_id")):
                sweeps.add(entry["sweep_id"])
            run_id = entry.get("run_id")
            if not isinstance(run_id, str) or not RUN_ID.match(run_id):
                continue
            touched.add(run_id)
            if entry.get("event") == "cache_hit":
                db.execute(
                    "INSERT INTO reuse VALUES (?, 1) "
                    "ON CONFLICT(run_id) DO UPDATE SET hits = hits + 1",
                    (run_id,),
                )
        if rebuild:  # runs written without journal lines (older versions, copies)
            touched.update(self._run_folders())
        placeholders = ",".join("?" * len(_FINAL))
        touched.update(
            row[0]
            for row in db.execute(
                f"SELECT run_id FROM runs WHERE status NOT IN ({placeholders})", _FINAL
            )
        )
        # runs named by the journal before their manifest was written
        db.execute("DELETE FROM unseen WHERE since < ?", (time.time() - _UNSEEN_SECONDS,))
        touched.update(row[0] for row in db.execute("SELECT run_id FROM unseen"))
        touched.update(row[0] for row in db.execute("SELECT run_id FROM unreadable"))
        for run_id in touched:
            self._index_run(db, run_id)
        if rebuild:  # the sweeps/ folder is their source of truth
            sweeps.update(self._sweep_files())
        sweeps.update(row[0] for row in db.execute("SELECT sweep_id FROM unreadable_sweeps"))
        for sweep_id in sweeps:
            self._index_sweep(db, sweep_id)
        annotations, notes_end = _read_from(notes, notes_at)
        for entry in annotations:
            _apply_annotation(db, entry)
        unfinished = (
            db.execute(
                f"SELECT COUNT(*) FROM runs WHERE status NOT IN ({placeholders})", _FINAL
            ).fetchone()[0]
            + db.execute("SELECT COUNT(*) FROM unseen").fetchone()[0]
            + db.execute("SELECT COUNT(*) FROM unreadable").fetchone()[0]
            + db.execute("SELECT COUNT(*) FROM unreadable_sweeps").fetchone()[0]
        )
        db.executemany(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)",
            [
                ("schema", _SCHEMA_VERSION),
                ("journal", _identity(journal, journal_end)),
                ("journal_at", str(journal_end)),
                ("annotations", _identity(notes, notes_end)),
                ("annotations_at", str(notes_end)),
                ("unfinished", "0" if unfinished == 0 else "1"),
            ],
        )

    def _run_folders(self) -> Iterable[str]:
        try:
            with os.scandir(Path(self.store.root) / "runs") as entries:
                return [e.name for e in entries if RUN_ID.match(e.name)]
        except OSError:
            return []

    def _sweep_files(self) -> Iterable[str]:
        try:
            with os.scandir(Path(self.store.root) / SWEEPS) as entries:
                return [e.name[:-5] for e in entries if is_sweep_id(e.name[:-5])]
        except OSError:
            return []

    def _index_sweep(self, db, sweep_id: str) -> None:
        """(Re)read one sweep record; an unreadable one is remembered by name (history
        warns about it and looks again), a vanished one is forgotten."""
        db.execute("DELETE FROM sweeps WHERE sweep_id = ?", (sweep_id,))
        db.execute("DELETE FROM sweep_cells WHERE sweep_id = ?", (sweep_id,))
        db.execute("DELETE FROM unreadable_sweeps WHERE sweep_id = ?", (sweep_id,))
        try:
            record = read_sweep_record(self.store, sweep_id)
        except UnreadableSweepError:
            db.execute("INSERT INTO unreadable_sweeps VALUES (?)", (sweep_id,))
            return
        except ValidationError:  # gone
            return
        db.execute(
            "INSERT INTO sweeps VALUES (?, ?, ?, ?, ?)",
            (sweep_id, record.created_at, record.template, record.describe(), len(record.cells)),
        )
        db.executemany(
            "INSERT INTO sweep_cells VALUES (?, ?, ?, ?)",
            [
                (sweep_id, position, cell.run_id, int(cell.cached))
                for position, cell in enumerate(record.cells)
                if cell.run_id is not None
            ],
        )

    def _index_run(self, db, run_id: str) -> None:
        try:
            run = self.store.load_run(run_id)
            request = run.request
            row = (
                run.run_id,
                float(run.created_at),
                str(run.status),
                str(request.prompt),
                str(request.model),
                str(request.size),
                str(request.resolution),
                str(run.request_key),
                float(run.cost or 0.0),
                int(bool(run.simulated)),
                len(run.images),
                ",".join(str(int(image.index)) for image in run.images),
            )
            parents = {
                (run_id, p.run_id, int(p.index)) for p in run.parents if RUN_ID.match(p.run_id)
            }
        except Exception as exc:  # missing or tampered manifest: not a run this index shows
            _count(db, run_id, None)
            db.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM parents WHERE run_id = ?", (run_id,))
            if isinstance(exc, UnreadableRunError):  # shown by name, so it can be repaired
                db.execute("INSERT OR IGNORE INTO unreadable VALUES (?)", (run_id,))
                db.execute("INSERT OR IGNORE INTO ids VALUES (?, ?)", (run_id, run_id[::-1]))
                return
            db.execute("DELETE FROM ids WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM unreadable WHERE run_id = ?", (run_id,))
            folder = Path(self.store.root) / "runs" / run_id
            if folder.is_dir() and not (folder / "manifest.json").exists():
                db.execute(  # its manifest may still be on its way: look again later
                    "INSERT OR IGNORE INTO unseen VALUES (?, ?)", (run_id, time.time())
                )
            else:
                db.execute("DELETE FROM unseen WHERE run_id = ?", (run_id,))
            return
        db.execute("DELETE FROM unseen WHERE run_id = ?", (run_id,))
        db.execute("DELETE FROM unreadable WHERE run_id = ?", (run_id,))
        if row[0] == run_id:
            _count(db, run_id, row)
            db.execute("INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", row)
            db.execute("INSERT OR IGNORE INTO ids VALUES (?, ?)", (run_id, run_id[::-1]))
            db.execute("DELETE FROM parents WHERE run_id = ?", (run_id,))
            db.executemany("INSERT INTO parents VALUES (?, ?, ?)", sorted(parents))

    # -- questions ----------------------------------------------------------------------------
    # (ids are the store's date-time stamps: id order is creation order)
    def search(
        self,
        text: str | None = None,
        *,
        tag: str | None = None,
        picked: bool = False,
        min_rating: int | None = None,
        model: str | None = None,
        size: str | None = None,
        since: float | None = None,
        status: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[str]:
        """Run ids matching every given condition, newest first (`limit`/`offset` page).

        `text` is looked for, case-insensitively, in the prompt, the note and the tags
        (as `%banana history --search`); `tag` must be one of the run's tags; `picked`
        wants a picked image; `min_rating` an image rated at least that; `since` is a
        timestamp; `status` e.g. "completed"."""
        where, params = self._conditions(text, tag, picked, min_rating, model, size, since, status)
        sql = f"SELECT run_id FROM runs{where} ORDER BY run_id DESC"
        if limit is not None or offset:
            sql += " LIMIT ? OFFSET ?"
            params += [-1 if limit is None else int(limit), int(offset)]
        with self._fresh() as db:
            return [row[0] for row in db.execute(sql, params)]

    def count(self, text: str | None = None, **conditions) -> int:
        """How many runs `search` would find (without limit)."""
        where, params = self._conditions(
            text,
            conditions.get("tag"),
            conditions.get("picked", False),
            conditions.get("min_rating"),
            conditions.get("model"),
            conditions.get("size"),
            conditions.get("since"),
            conditions.get("status"),
        )
        with self._fresh() as db:
            return db.execute(f"SELECT COUNT(*) FROM runs{where}", params).fetchone()[0]

    @staticmethod
    def _conditions(text, tag, picked, min_rating, model, size, since, status):
        clauses: list[str] = []
        params: list = []
        if text:
            needle = str(text).lower()
            clauses.append(
                "(contains(prompt, ?) OR contains((SELECT note FROM notes n WHERE "
                "n.run_id = runs.run_id), ?) OR EXISTS (SELECT 1 FROM tags t WHERE "
                "t.run_id = runs.run_id AND contains(t.tag, ?)))"
            )
            params += [needle, needle, needle]
        if tag:
            clauses.append(
                "EXISTS (SELECT 1 FROM tags t WHERE t.run_id = runs.run_id AND t.tag = ?)"
            )
            params.append(str(tag))
        if picked:
            clauses.append("EXISTS (SELECT 1 FROM picks p WHERE p.run_id = runs.run_id)")
        if min_rating is not None:
            clauses.append(
                "EXISTS (SELECT 1 FROM ratings r WHERE r.run_id = runs.run_id AND r.rating >= ?)"
            )
            params.append(int(min_rating))
        for column, value in (("model", model), ("size", size), ("status", status)):
            if value:
                clauses.append(f"{column} = ?")
                params.append(str(value))
        if since is not None:
            clauses.append("created_at >= ?")
            params.append(float(since))
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def images(
        self,
        text: str | None = None,
        *,
        tag: str | None = None,
        picked: bool = False,
        min_rating: int | None = None,
        model: str | None = None,
        size: str | None = None,
        since: float | None = None,
    ) -> list[tuple[str, int]]:
        """(run id, image index) of the images of completed runs that match, newest run
        first: the gallery's question. `text`, `tag`, `model`, `size`, `since` filter runs
        as in `search`; `picked` and `min_rating` filter each image."""
        where, params = self._conditions(text, tag, False, None, model, size, since, "completed")
        with self._fresh() as db:
            runs = db.execute(
                f"SELECT run_id, image_indexes FROM runs{where} ORDER BY run_id DESC", params
            ).fetchall()
            picks = set(db.execute("SELECT run_id, image FROM picks")) if picked else None
            ratings = (
                {(r, i): v for r, i, v in db.execute("SELECT run_id, image, rating FROM ratings")}
                if min_rating is not None
                else None
            )
        found = []
        for run_id, indexes in runs:
            for index in (int(i) for i in indexes.split(",") if i):
                if picks is not None and (run_id, index) not in picks:
                    continue
                if ratings is not None and ratings.get((run_id, index), 0) < min_rating:
                    continue
                found.append((run_id, index))
        return found

    def run_ids(self) -> list[str]:
        """Every run id, oldest first (the order `Store.run_ids` gives), including runs
        whose manifest is unreadable (`show` then says so)."""
        with self._fresh() as db:
            return [row[0] for row in db.execute("SELECT run_id FROM ids ORDER BY run_id")]

    def unreadable(self) -> list[str]:
        """Run ids whose manifest exists but cannot be read (corrupt or tampered)."""
        with self._fresh() as db:
            return [row[0] for row in db.execute("SELECT run_id FROM unreadable ORDER BY run_id")]

    # -- history's entries: runs made on their own, and sweeps --------------------------------
    def entries(
        self,
        text: str | None = None,
        *,
        tag: str | None = None,
        picked: bool = False,
        min_rating: int | None = None,
        model: str | None = None,
        size: str | None = None,
        since: float | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[tuple[str, str]]:
        """History's entries, newest first: ("run", run id) for each run not sent as a
        cell of a recorded sweep, ("sweep", sweep id) for each sweep (its cells folded
        in). The conditions are `search`'s; a sweep matches when one of its cells does."""
        where, params = self._conditions(text, tag, picked, min_rating, model, size, since, None)
        alone = "run_id NOT IN (SELECT run_id FROM sweep_cells WHERE cached = 0)"
        runs_where = f"{where} AND {alone}" if where else f" WHERE {alone}"
        sweeps_where = (
            " WHERE EXISTS (SELECT 1 FROM sweep_cells c JOIN runs ON runs.run_id = c.run_id"
            f" WHERE c.sweep_id = sweeps.sweep_id AND {where[len(' WHERE ') :]})"
            if where
            else ""
        )
        # each side in id order (ids are date-time stamps), cut at what the page needs,
        # then merged: a text filter stops scanning once it has found enough
        cut = "" if limit is None else f" LIMIT {int(limit) + int(offset)}"
        with self._fresh() as db:
            runs = db.execute(
                f"SELECT run_id, created_at FROM runs{runs_where} ORDER BY run_id DESC{cut}",
                params,
            ).fetchall()
            sweeps = db.execute(
                f"SELECT sweep_id, created_at FROM sweeps{sweeps_where} "
                f"ORDER BY sweep_id DESC{cut}",
                params,
            ).fetchall()
        # ids are stamped to the second: within one second the creation time decides
        found = sorted(
            [(run_id[:15], at, "run", run_id) for run_id, at in runs]
            + [(sweep_id[len("sweep-") :][:15], at, "sweep", sweep_id) for sweep_id, at in sweeps],
            reverse=True,
        )
        end = None if limit is None else int(offset) + int(limit)
        return [(kind, id_) for _, _, kind, id_ in found[int(offset) : end]]

    def sweep_ids(self) -> list[str]:
        """Every recorded sweep id, oldest first, including unreadable records."""
        with self._fresh() as db:
            return sorted(
                row[0]
                for row in db.execute(
                    "SELECT sweep_id FROM sweeps UNION SELECT sweep_id FROM unreadable_sweeps"
                )
            )

    def unreadable_sweeps(self) -> list[str]:
        with self._fresh() as db:
            return [r[0] for r in db.execute("SELECT sweep_id FROM unreadable_sweeps ORDER BY 1")]

    def sweeps_starting_with(self, run_id: str) -> list[str]:
        """The sweeps whose first cell is held by `run_id`, newest first."""
        with self._fresh() as db:
            return [
                row[0]
                for row in db.execute(
                    "SELECT sweep_id FROM sweep_cells WHERE run_id = ? AND position = 0 "
                    "ORDER BY sweep_id DESC",
                    (run_id,),
                )
            ]

    def sweep_facts(self, sweep_ids: Iterable[str]) -> dict[str, dict]:
        """What history shows of each sweep, from the index alone (no file is read):
        template, description ('sweep 2×3: size × resolution'), cells, cached cells,
        images, what its sent cells cost, the cells per run status, best rating, picks."""
        facts = {}
        with self._fresh() as db:
            for sweep_id in sweep_ids:
                row = db.execute(
                    "SELECT created_at, template, description, cells FROM sweeps "
                    "WHERE sweep_id = ?",
                    (sweep_id,),
                ).fetchone()
                if row is None:
                    continue
                cells = "FROM sweep_cells c JOIN runs r ON r.run_id = c.run_id WHERE c.sweep_id = ?"
                cached, images, cost, simulated = db.execute(
                    f"SELECT COALESCE(SUM(c.cached), 0), COALESCE(SUM(r.images), 0), "
                    f"COALESCE(SUM(CASE WHEN c.cached = 0 AND r.status = 'completed' "
                    f"THEN r.cost ELSE 0 END), 0), COALESCE(MAX(r.simulated), 0) {cells}",
                    (sweep_id,),
                ).fetchone()
                statuses = dict(
                    db.execute(f"SELECT r.status, COUNT(*) {cells} GROUP BY r.status", (sweep_id,))
                )
                best = db.execute(
                    "SELECT MAX(rating) FROM ratings WHERE run_id IN "
                    "(SELECT run_id FROM sweep_cells WHERE sweep_id = ?)",
                    (sweep_id,),
                ).fetchone()[0]
                picks = db.execute(
                    "SELECT COUNT(*) FROM picks WHERE run_id IN "
                    "(SELECT run_id FROM sweep_cells WHERE sweep_id = ?)",
                    (sweep_id,),
                ).fetchone()[0]
                facts[sweep_id] = {
                    "created_at": row[0],
                    "template": row[1],
                    "description": row[2],
                    "cells": row[3],
                    "cached": int(cached),
                    "images": int(images),
                    "cost": round(float(cost), 6),
                    "simulated": bool(simulated),
                    "statuses": statuses,
                    "best_rating": best,
                    "picks": picks,
                }
        return facts

    def latest(self, count: int | None = None) -> list[str]:
        """The `count` newest run ids (all when None), newest first."""
        return self.search(limit=count)

    def resolve(self, text: str) -> list[str]:
        """Run ids equal to `text` or starting or ending with it (for `show abc123`),
        including runs whose manifest is unreadable; two index range lookups."""
        if not text:
            return []
        with self._fresh() as db:
            found = {
                row[0]
                for row in db.execute(
                    "SELECT run_id FROM ids WHERE run_id BETWEEN ? AND ?", (text, text + "\uffff")
                )
            }
            backwards = text[::-1]
            found.update(
                row[0]
                for row in db.execute(
                    "SELECT run_id FROM ids WHERE reversed BETWEEN ? AND ?",
                    (backwards, backwards + "\uffff"),
                )
            )
        return sorted(found)

    def nth_latest(self, n: int) -> str | None:
        """The n-th most recent run id by id order (1 = last), as `%banana show -2`."""
        with self._fresh() as db:
            row = db.execute(
                "SELECT run_id FROM ids ORDER BY run_id DESC LIMIT 1 OFFSET ?", (n - 1,)
            ).fetchone()
        return row[0] if row else None

    def totals(self) -> tuple[float, float]:
        """(paid, simulated) cost of the completed runs in the folder (kept up to date as
        runs are indexed, so this is one lookup whatever the folder's size)."""
        with self._fresh() as db:
            sums = dict(db.execute("SELECT what, dollars FROM totals"))
        return round(sums.get("paid", 0.0), 6), round(sums.get("simulated", 0.0), 6)

    def children(self, run_id: str) -> list[tuple[str, int]]:
        """(run id, image index) of each stored image of `run_id` that a run of the folder
        used as a reference, by that run: oldest run first."""
        with self._fresh() as db:
            return [
                (child, int(image))
                for child, image in db.execute(
                    "SELECT run_id, image FROM parents WHERE parent = ? ORDER BY run_id, image",
                    (run_id,),
                )
            ]

    def cached_run_id(self, request_key: str) -> str | None:
        """The newest completed run with images for this request key, if any."""
        with self._fresh() as db:
            row = db.execute(
                "SELECT run_id FROM runs WHERE request_key = ? AND status = 'completed' "
                "AND images > 0 ORDER BY created_at DESC LIMIT 1",
                (request_key,),
            ).fetchone()
        return row[0] if row else None

    def reuse_counts(self, run_ids: Iterable[str]) -> dict[str, int]:
        """How often each of these runs was served from the cache (absent: never)."""
        ids = list(run_ids)
        if not ids:
            return {}
        with self._fresh() as db:
            marks = ",".join("?" * len(ids))
            return dict(
                db.execute(f"SELECT run_id, hits FROM reuse WHERE run_id IN ({marks})", ids)
            )


def _count(db, run_id: str, new: tuple | None) -> None:
    """Keep `totals` right as a run's row is replaced by `new` (None: removed)."""
    old = db.execute(
        "SELECT status, simulated, cost FROM runs WHERE run_id = ?", (run_id,)
    ).fetchone()
    change = {"paid": 0.0, "simulated": 0.0}
    for row, sign in ((old, -1.0), (None if new is None else (new[2], new[9], new[8]), 1.0)):
        if row is not None and row[0] == "completed":
            change["simulated" if row[1] else "paid"] += sign * float(row[2])
    for what, dollars in change.items():
        if dollars:
            db.execute(
                "INSERT INTO totals VALUES (?, ?) "
                "ON CONFLICT(what) DO UPDATE SET dollars = dollars + excluded.dollars",
                (what, dollars),
            )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _identity(path: Path, upto: int) -> str:
    """Which file this is: its inode and a hash of its first bytes (up to what was read),
    so a replaced or rewritten file is noticed and read again from the start."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(min(upto, 4096))
            inode = os.fstat(handle.fileno()).st_ino
    except OSError:
        return "absent"
    return f"{inode}:{hashlib.sha256(head).hexdigest()[:16]}"


def _read_from(path: Path, start: int) -> tuple[list[dict], int]:
    """The complete JSON lines after byte `start`, and where the last one ends."""
    try:
        with open(path, "rb") as handle:
            handle.seek(start)
            data = handle.read()
    except OSError:
        return [], start
    end = data.rfind(b"\n") + 1  # a torn last line is read when it is complete
    return json_objects(data[:end].splitlines()), start + end


def _apply_annotation(db, entry: dict) -> None:
    """Fold one annotations line in, with exactly the validation of `Annotations.apply`."""
    state = Annotations()
    state.apply(entry)
    run_id, kind, index = entry.get("run_id"), entry.get("kind"), entry.get("index")
    if kind == "rating" and (state.ratings or entry.get("value") == 0):
        if state.ratings:
            db.execute(
                "INSERT OR REPLACE INTO ratings VALUES (?, ?, ?)", (run_id, index, entry["value"])
            )
        elif _is_index(index):
            db.execute("DELETE FROM ratings WHERE run_id = ? AND image = ?", (run_id, index))
    elif kind == "pick" and _is_index(index) and isinstance(entry.get("value"), bool):
        if state.picks:
            db.execute("INSERT OR IGNORE INTO picks VALUES (?, ?)", (run_id, index))
        elif RUN_ID.match(str(run_id)):
            db.execute("DELETE FROM picks WHERE run_id = ? AND image = ?", (run_id, index))
    elif kind in ("tag", "untag") and state.tags:
        tag = entry["value"]
        if kind == "tag":
            db.execute("INSERT OR IGNORE INTO tags VALUES (?, ?)", (run_id, tag))
        else:
            db.execute("DELETE FROM tags WHERE run_id = ? AND tag = ?", (run_id, tag))
    elif kind == "note" and isinstance(entry.get("value"), str):
        if state.notes:
            db.execute("INSERT OR REPLACE INTO notes VALUES (?, ?)", (run_id, entry["value"]))
        elif entry["value"] == "" and RUN_ID.match(str(run_id)):
            db.execute("DELETE FROM notes WHERE run_id = ?", (run_id,))


def _is_index(index) -> bool:
    return not isinstance(index, bool) and isinstance(index, int) and 0 <= index <= 63
