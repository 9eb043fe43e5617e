"""The durable key store of one KME (SQLAlchemy Core: SQLite embedded, or PostgreSQL).

Two tables, both keyed by ``kme`` so that several KMEs may share one PostgreSQL database:

- ``link_chunks``: key material of each QKD link, cut into fixed-size chunks whose IDs
  (UUIDv5 of block ID and index) are the same at both ends of the link. A used chunk keeps
  its row (``used``, material erased) so that a late or repeated claim on it is refused.
- ``sae_keys``: keys waiting for a slave SAE (one row per key ID and slave), deleted in
  the transaction that delivers them.

Invariants under SIGKILL at any moment: every write is committed before the caller is
answered (``barrier``), so a key is never handed out unless its removal is durable (never
twice), a stored key is never lost, and a peer's claim on link chunks is checked against
this store's own record, so the two ends of a key ID never disagree. Writes go, in order,
through one writer thread that commits whatever is queued in one transaction (group
commit); reads come from an in-memory index rebuilt from the tables at start-up.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import importlib
import logging
import queue
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

from euroqci.errors import KeyManagementError, KeyNotFound, KeyUnavailable, Unauthorized
from euroqci.kms.registry import LinkId, SaeKey

log = logging.getLogger(__name__)

NOT_FOUND = "one or more keys specified are not found on KME"
_CHUNK_NS = uuid.UUID("6f1f4a52-8b1e-4c55-9d0e-2f6b3a7c9e10")
_BATCH_MAX = 1024
_LAZY_S = 0.02  # how long writes nobody awaits may wait for company (s)

metadata = sa.MetaData()
link_chunks = sa.Table(
    "link_chunks",
    metadata,
    sa.Column("kme", sa.String(128), primary_key=True),
    sa.Column("link", sa.String(260), primary_key=True),
    sa.Column("chunk_id", sa.String(36), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("material", sa.LargeBinary, nullable=False),
    sa.Column("used", sa.Boolean, nullable=False),
)
sae_keys = sa.Table(
    "sae_keys",
    metadata,
    sa.Column("kme", sa.String(128), primary_key=True),
    sa.Column("key_id", sa.String(36), primary_key=True),
    sa.Column("slave_sae", sa.String(256), primary_key=True),
    sa.Column("master_sae", sa.String(256), nullable=False),
    sa.Column("material", sa.LargeBinary, nullable=False),
)


def chunk_ids_of_block(block_id: str, n_chunks: int) -> list[str]:
    """The chunk IDs both ends derive for one link key block (UUIDv5, RFC 4122)."""
    return [str(uuid.uuid5(_CHUNK_NS, f"{block_id}/{i}")) for i in range(n_chunks)]


def _link_key(link: LinkId) -> str:
    return f"{link[0]}|{link[1]}"


def xor_bytes(a: bytes, b: bytes) -> bytes:
    """Byte-wise XOR of two equal-length strings (one-time pad)."""
    if len(a) != len(b):
        raise ValueError(f"one-time pad needs equal lengths, got {len(a)} and {len(b)}")
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


class WriteTracker:
    """The last write queued by one request (see :func:`track_writes`)."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last: concurrent.futures.Future | None = None


_writes: contextvars.ContextVar[WriteTracker | None] = contextvars.ContextVar(
    "kms_writes", default=None
)


def track_writes() -> WriteTracker:
    """Record the writes queued from now on in this context (one HTTP request)."""
    tracker = WriteTracker()
    _writes.set(tracker)
    return tracker


@dataclass(frozen=True)
class Reservation:
    """Chunks of one link set aside in memory; ``material`` is their concatenation."""

    link: LinkId
    chunk_ids: tuple[str, ...]
    material: bytes = field(repr=False)


@dataclass(frozen=True)
class IncomingKey:
    """A key announced by the KME at the other end of ``link`` (direct or last relay hop).

    Its bytes are the first ``size_bytes`` of the named chunks, XORed with ``otp`` when the
    key was sent one-time-padded (multicast to another link, or a relay's last hop).
    """

    key_id: str
    chunk_ids: tuple[str, ...]
    size_bytes: int
    master_sae: str
    slave_saes: tuple[str, ...]
    otp: bytes | None = field(default=None, repr=False)


class KeyStore:
    """Link chunks and pending SAE keys of KME ``kme_id``.

    Methods change the in-memory index at once and queue their database writes; a caller
    must ``await barrier()`` (the app does it for every response, see ``kms/app.py``) before
    telling anyone about the result. ``add_link_keys`` awaits its own write.
    """

    def __init__(self, url: str, kme_id: str, *, chunk_bytes: int, max_chunks_per_link: int):
        self.kme_id = kme_id
        self.chunk_bytes = chunk_bytes
        self.max_chunks_per_link = max_chunks_per_link
        self.engine = _make_engine(url)
        for attempt in range(5):  # KMEs sharing a PostgreSQL database may race to create
            try:
                metadata.create_all(self.engine)
                break
            except sa.exc.DBAPIError:
                if attempt == 4:
                    raise
                time.sleep(0.1 * (attempt + 1))
        self._avail: dict[LinkId, dict[str, bytes]] = {}
        self._order: dict[LinkId, deque[str]] = {}
        #: key ID -> slave SAE -> (master SAE, key), or None once delivered to that slave
        self._pending: dict[str, dict[str, tuple[str, bytes] | None]] = {}
        self._pair_count: Counter[tuple[str, str]] = Counter()
        self._seq = 0
        self._failed: BaseException | None = None
        self._load()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._last: concurrent.futures.Future | None = None
        self._conn: sa.Connection | None = None  # the writer thread's own
        self._writer = threading.Thread(target=self._write_loop, name=f"kms-store-{kme_id}")
        self._writer.daemon = True
        self._writer.start()

    def __repr__(self) -> str:
        return f"KeyStore(kme_id={self.kme_id!r}, url={self.engine.url!r})"

    # ---- reads (in memory, cheap) ---------------------------------------------------
    def available_chunks(self, link: LinkId) -> int:
        return len(self._avail.get(link, ()))

    def link_key_bits(self) -> dict[LinkId, int]:
        """Unreserved link key per link (bits)."""
        return {lk: 8 * self.chunk_bytes * len(a) for lk, a in sorted(self._avail.items())}

    def pending_key_count(self) -> int:
        """Keys waiting for a slave SAE (one per key and slave)."""
        return sum(self._pair_count.values())

    # ---- durability ----------------------------------------------------------------------
    @property
    def failed(self) -> bool:
        """True once a write failed: memory and database may differ, the KME must restart."""
        return self._failed is not None

    async def barrier(self, writes: WriteTracker | None = None) -> None:
        """Wait until the writes queued so far are committed, except those queued with
        ``track=False`` (nobody waits for them); raise if one failed.

        With ``writes`` (from :func:`track_writes`), wait only for those of that request
        (writes commit in order, so its last one suffices).
        """
        last = self._last if writes is None else writes.last
        if last is not None and not last.done():
            await asyncio.wrap_future(last)
        if last is not None and self._failed is not None:
            raise KeyUnavailable("the key store failed a write; restart the KME")

    # ---- southbound: link key supply -----------------------------------------------
    async def add_link_keys(self, link: LinkId, blocks: Iterable[tuple[str, bytes]]) -> int:
        """Store key blocks of ``link`` (same IDs and bytes at both ends); returns chunks added.

        A block of ``chunk_bytes`` keeps its ID; a longer one is cut into chunks with IDs
        :func:`chunk_ids_of_block` (a short tail is dropped at both ends). Chunks beyond
        ``max_chunks_per_link`` are dropped; a block fed again never revives used chunks.
        """
        avail = self._avail.setdefault(link, {})
        room = self.max_chunks_per_link - len(avail)
        rows = []
        for block_id, data in blocks:
            n = len(data) // self.chunk_bytes
            ids = (
                [str(block_id)]
                if len(data) == self.chunk_bytes
                else chunk_ids_of_block(str(block_id), n)
            )
            for i, cid in enumerate(ids):
                if len(rows) >= room:
                    break
                self._seq += 1
                rows.append(
                    (cid, self._seq, data[i * self.chunk_bytes : (i + 1) * self.chunk_bytes])
                )
        if not rows:
            return 0
        lk = _link_key(link)
        params = [
            {"kme": self.kme_id, "link": lk, "chunk_id": c, "seq": s, "material": m, "used": False}
            for c, s, m in rows
        ]
        ids = [c for c, _, _ in rows]
        dialect = self.engine.dialect.name
        insert = importlib.import_module(f"sqlalchemy.dialects.{dialect}").insert

        def op(conn: sa.Connection) -> set[str]:
            conn.execute(insert(link_chunks).on_conflict_do_nothing(), params)
            used = sa.select(link_chunks.c.chunk_id).where(
                link_chunks.c.kme == self.kme_id,
                link_chunks.c.link == lk,
                link_chunks.c.used.is_(True),
                link_chunks.c.chunk_id.in_(ids),
            )
            return set(conn.execute(used).scalars())

        used = await asyncio.wrap_future(self._enqueue(op))
        order = self._order.setdefault(link, deque())
        added = 0
        for cid, _, chunk in rows:
            if cid not in avail and cid not in used:
                avail[cid] = chunk
                order.append(cid)
                added += 1
        return added

    # ---- outgoing: reserve in memory, commit once the peer has its copy ------------------
    def reserve(self, link: LinkId, n_chunks: int, *, oldest_first: bool) -> Reservation:
        """Set aside ``n_chunks`` of ``link``; the two ends take from opposite ends of the
        pool (``oldest_first`` for the KME with the smaller ID) so they rarely collide."""
        self._check()
        avail = self._avail.get(link, {})
        order = self._order.get(link, deque())
        if len(avail) < n_chunks:
            raise KeyUnavailable(
                f"insufficient key material on link {link[0]}-{link[1]}: "
                f"{len(avail)} chunks stored, {n_chunks} needed"
            )
        ids, parts = [], []
        pop = order.popleft if oldest_first else order.pop
        while len(ids) < n_chunks:
            cid = pop()
            chunk = avail.pop(cid, None)
            if chunk is not None:  # else already taken by a peer's claim (lazy deletion)
                ids.append(cid)
                parts.append(chunk)
        return Reservation(link, tuple(ids), b"".join(parts))

    def release(self, res: Reservation) -> None:
        """Give reserved chunks back (the peer never stored a key made of them)."""
        avail = self._avail.setdefault(res.link, {})
        order = self._order.setdefault(res.link, deque())
        for i, cid in enumerate(res.chunk_ids):
            avail[cid] = res.material[i * self.chunk_bytes : (i + 1) * self.chunk_bytes]
            order.appendleft(cid)

    def commit(self, res: Reservation, *, wait: bool = True) -> None:
        """Mark reserved chunks used (after the peer stored its copy, or to burn them).

        ``wait=False``: the request's answer need not wait for this write. Safe when the
        peer already recorded the chunks as used: were this write lost in a crash, the
        peer refuses any later claim on them and they are burned then.
        """
        self._enqueue([_mark_used(self.kme_id, res.link, res.chunk_ids)], track=wait)

    def take_link_keys(self, link: LinkId, n_blocks: int, *, sender: str):
        """Reserve and commit ``n_blocks`` chunks at once: ``[(chunk_id, bytes)]`` (relay)."""
        res = self.reserve(link, n_blocks, oldest_first=sender == link[0])
        self.commit(res)
        c = self.chunk_bytes
        return [(cid, res.material[i * c : (i + 1) * c]) for i, cid in enumerate(res.chunk_ids)]

    def take_link_keys_by_id(self, link: LinkId, chunk_ids: Sequence[str]) -> list[bytes]:
        """Use the named chunks of ``link`` (the peer's pad), all or none."""
        self._check()
        avail = self._avail.get(link, {})
        if len(set(chunk_ids)) != len(chunk_ids) or any(c not in avail for c in chunk_ids):
            raise KeyNotFound(f"link key of {link[0]}-{link[1]} named by the peer is not available")
        parts = [avail.pop(c) for c in chunk_ids]
        self._enqueue([_mark_used(self.kme_id, link, chunk_ids)])
        return parts

    # ---- incoming keys from the KME at the other end of a link -----------------------
    def accept_keys(self, link: LinkId, items: Sequence[IncomingKey]) -> list[str | None]:
        """Store announced keys; per item None (stored) or the reason it was refused.

        The chunks' use and the key rows go to the database in one transaction.
        """
        self._check()
        avail = self._avail.get(link, {})
        accepted: list[tuple[IncomingKey, bytes]] = []
        reasons: list[str | None] = []
        for item in items:
            reason = _refusal(item, avail, self._pending, self.chunk_bytes)
            reasons.append(reason)
            if reason is not None:
                continue
            material = b"".join(avail.pop(c) for c in item.chunk_ids)[: item.size_bytes]
            if item.otp is not None:
                material = xor_bytes(item.otp, material)
            accepted.append((item, material))
            for slave in item.slave_saes:
                self._remember(item.key_id, slave, item.master_sae, material)
        if accepted:
            used = [c for item, _ in accepted for c in item.chunk_ids]
            rows = [
                _key_row(self.kme_id, it.key_id, s, it.master_sae, m)
                for it, m in accepted
                for s in it.slave_saes
            ]
            self._enqueue([_mark_used(self.kme_id, link, used), (_INSERT_KEYS, rows)])
        return reasons

    # ---- SAE keys ----------------------------------------------------------------------
    def add_keys(
        self, keys: Sequence[tuple[str, bytes]], master_sae: str, slave_saes: Sequence[str]
    ) -> None:
        """Store keys ``[(key_id, bytes)]`` for local slave SAEs (relayed, or same-KME pair)."""
        self._check()
        if any(kid in self._pending for kid, _ in keys):
            raise KeyManagementError("key_ID already in use at this KME")
        rows = [_key_row(self.kme_id, kid, s, master_sae, m) for kid, m in keys for s in slave_saes]
        for row in rows:
            self._remember(row["key_id"], row["slave_sae"], master_sae, row["material"])
        self._enqueue([(_INSERT_KEYS, rows)])

    def take_keys(self, key_ids: Sequence[str], master_sae: str, slave_sae: str) -> list[SaeKey]:
        """Remove and return the keys ``slave_sae`` asks for, all or none.

        Raises :class:`Unauthorized` if a key exists but not for this slave and master,
        :class:`KeyNotFound` if one is unknown or already delivered.
        """
        self._check()
        if len(set(key_ids)) != len(key_ids):
            raise KeyNotFound(NOT_FOUND)
        for kid in key_ids:
            entry = self._pending.get(kid)
            if entry is None or entry.get(slave_sae, ()) is None:  # unknown, or delivered
                raise KeyNotFound(NOT_FOUND)
            if slave_sae not in entry or entry[slave_sae][0] != master_sae:
                raise Unauthorized(
                    f"key {kid} was not issued by {master_sae!r} for SAE {slave_sae!r}"
                )
        taken = [SaeKey(kid, self._forget(kid, slave_sae)) for kid in key_ids]
        params = [{"k": self.kme_id, "i": kid, "s": slave_sae} for kid in key_ids]
        self._enqueue([(_DELETE_KEYS, params)])
        return taken

    def close(self) -> None:
        """Finish queued writes, stop the writer thread and close the database."""
        self._queue.put(None)
        self._writer.join(timeout=30)
        self.engine.dispose()

    # ---- internals ---------------------------------------------------------------------
    def _check(self) -> None:
        if self._failed is not None:
            raise KeyUnavailable("the key store failed a write; restart the KME")

    def _remember(self, kid: str, slave: str, master: str, material: bytes) -> None:
        self._pending.setdefault(kid, {})[slave] = (master, material)
        self._pair_count[(master, slave)] += 1

    def _forget(self, kid: str, slave: str) -> bytes:
        entry = self._pending[kid]
        master, material = entry[slave]
        entry[slave] = None  # delivered: asking again is a 400, not a 401
        if all(v is None for v in entry.values()):
            del self._pending[kid]
        self._pair_count[(master, slave)] -= 1
        return material

    def _load(self) -> None:
        with self.engine.connect() as conn:
            self._seq = conn.execute(
                sa.select(sa.func.coalesce(sa.func.max(link_chunks.c.seq), 0)).where(
                    link_chunks.c.kme == self.kme_id
                )
            ).scalar_one()
            chunks = conn.execute(
                sa.select(link_chunks.c.link, link_chunks.c.chunk_id, link_chunks.c.material)
                .where(link_chunks.c.kme == self.kme_id, link_chunks.c.used.is_(False))
                .order_by(link_chunks.c.seq)
            )
            for lk, cid, material in chunks:
                a, b = lk.split("|", 1)
                self._avail.setdefault((a, b), {})[cid] = material
                self._order.setdefault((a, b), deque()).append(cid)
            keys = conn.execute(
                sa.select(
                    sae_keys.c.key_id,
                    sae_keys.c.slave_sae,
                    sae_keys.c.master_sae,
                    sae_keys.c.material,
                ).where(sae_keys.c.kme == self.kme_id)
            )
            for kid, slave, master, material in keys:
                self._remember(kid, slave, master, material)

    def _enqueue(self, op: Write, *, track: bool = True) -> concurrent.futures.Future:
        """Queue a write: a function of the connection, or (statement, rows) steps."""
        fut: concurrent.futures.Future = concurrent.futures.Future()
        if track:  # writes made with track=False are never waited for
            self._last = fut
            tracker = _writes.get()
            if tracker is not None:
                tracker.last = fut
        self._queue.put((op, fut, track))
        return fut

    def _write_loop(self) -> None:
        try:
            self._write_batches()
        finally:
            if self._conn is not None:
                self._conn.close()

    def _write_batches(self) -> None:
        stop = False
        while not stop:
            batch = [self._queue.get()]
            lazy_until = None
            while len(batch) < _BATCH_MAX and batch[-1] is not None:
                try:
                    batch.append(self._queue.get_nowait())
                    continue
                except queue.Empty:
                    pass
                if any(item[2] for item in batch):
                    break  # someone awaits this batch: commit now
                # nobody awaits these writes (e.g. a master's own chunk records): gather
                # more for a while, so that one commit serves many
                lazy_until = lazy_until or time.monotonic() + _LAZY_S
                try:
                    batch.append(self._queue.get(timeout=max(0.0, lazy_until - time.monotonic())))
                except queue.Empty:
                    break
            if None in batch:
                stop = True
                batch = [b for b in batch if b is not None]
            if batch:
                self._commit(batch)

    def _commit(self, batch: list) -> None:
        """One transaction for the whole batch (group commit: one fsync for many writes)."""
        if self._failed is not None:
            for _, fut, _ in batch:
                if not fut.cancelled():
                    fut.set_exception(KeyUnavailable("the key store failed a write"))
            return
        try:
            if self._conn is None:  # the writer's one connection: a pool checkout per
                self._conn = self.engine.connect()  # batch adds a reset ROLLBACK per commit
            with self._conn.begin():
                results = _run_batch(self._conn, [op for op, _, _ in batch])
        except Exception as exc:
            log.error("key store write failed: %s", type(exc).__name__)
            self._failed = exc  # memory and database now differ: refuse all further work
            for _, fut, _ in batch:
                if not fut.cancelled():
                    fut.set_exception(KeyUnavailable("the key store failed a write"))
            return
        for (_, fut, _), result in zip(batch, results, strict=True):
            if not fut.cancelled():  # its waiter was cancelled (client gone, shutdown)
                fut.set_result(result)


def _key_row(kme: str, kid: str, slave: str, master: str, material: bytes) -> dict:
    return {
        "kme": kme,
        "key_id": kid,
        "slave_sae": slave,
        "master_sae": master,
        "material": material,
    }


def _refusal(item: IncomingKey, avail, pending, chunk_bytes: int) -> str | None:
    if item.key_id in pending:
        return "key_ID already in use"
    if len(set(item.chunk_ids)) != len(item.chunk_ids):
        return "repeated chunk IDs"
    if len(item.chunk_ids) * chunk_bytes < item.size_bytes:
        return "chunks shorter than the key"
    if item.otp is not None and len(item.otp) != item.size_bytes:
        return "one-time-pad ciphertext of the wrong length"
    if any(c not in avail for c in item.chunk_ids):
        return "chunks not available"
    return None


_MARK_USED = (
    link_chunks.update()
    .where(
        link_chunks.c.kme == sa.bindparam("k"),
        link_chunks.c.link == sa.bindparam("l"),
        link_chunks.c.chunk_id == sa.bindparam("c"),
    )
    .values(used=True, material=b"")
)
_INSERT_KEYS = sae_keys.insert()
_DELETE_KEYS = sae_keys.delete().where(
    sae_keys.c.kme == sa.bindparam("k"),
    sae_keys.c.key_id == sa.bindparam("i"),
    sae_keys.c.slave_sae == sa.bindparam("s"),
)

#: a queued write: a function of the connection (its result is returned), or steps
#: (statement, rows) that the writer merges with neighbouring steps of the same statement
Write = Callable[[sa.Connection], object] | list[tuple[sa.Executable, list[dict]]]


def _mark_used(kme: str, link: LinkId, chunk_ids: Sequence[str]):
    lk = _link_key(link)
    return _MARK_USED, [{"k": kme, "l": lk, "c": c} for c in chunk_ids]


def _run_batch(conn: sa.Connection, ops: list[Write]) -> list:
    """Execute writes in order; consecutive steps of one statement become one executemany
    (order is kept: a key inserted then deleted in one batch stays deleted)."""
    results: list = []
    stmt, rows = None, []
    for op in ops:
        if callable(op):
            if rows:
                conn.execute(stmt, rows)
            stmt, rows = None, []
            results.append(op(conn))
            continue
        for step_stmt, step_rows in op:
            if step_stmt is not stmt and rows:
                conn.execute(stmt, rows)
                rows = []
            stmt = step_stmt
            rows.extend(step_rows)
        results.append(None)
    if rows:
        conn.execute(stmt, rows)
    return results


def _make_engine(url: str) -> sa.Engine:
    engine = sa.create_engine(url)
    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # WAL + fsync on every commit: durable on SIGKILL
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.close()

    return engine
