"""A SparkSession for shopseg: loopback driver, temp warehouse, UTC, naive timestamps, quiet logs."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from . import require_pyspark

DEFAULT_MASTER = "local[2]"
MEMORY_ENV = "SHOPSEG_SPARK_MEMORY"  # the driver's heap (local mode: the executors run inside it), e.g. 8g
STACK = "64m"  # thread stack (-Xss): MLlib FP-growth recursed once per item of a long conditional pattern
ROWS_PER_PARTITION = 1_000_000  # shuffle partitions sized by the order lines (local mode at least 2 per core)


HEAP_BASE = 2**30  # the driver's heap before any data: Spark's own default, enough for a demo shop
HEAP_PER_ROW = 1024  # and this much per order line of the workspace (x10 Online Retail, 5.4M lines: 6.2 GiB)


def driver_memory(rows: int | None = None, total: int | None = None) -> str:
    """Heap for the Spark driver (``spark.driver.memory``; in local mode the executors run inside it).

    From the data when ``rows`` (order lines) is known: ``HEAP_BASE`` + ``HEAP_PER_ROW`` per line, at most
    half of this machine's memory (``total`` bytes) and 16 GiB; without ``rows`` (a cluster driver script),
    a third of the machine's memory, from 1 GiB up to 16 GiB.  ``$SHOPSEG_SPARK_MEMORY`` overrides both.
    Spark's own default (1 GiB) failed at 5M order lines while broadcasting a join table (issue #22);
    a third of the machine (8 GiB here) let the JVM grow to 8.85 GB on a 540k-line shop.

    >>> driver_memory(540_000, 24 * 2**30), driver_memory(5_400_000, 24 * 2**30), driver_memory(60_000, 24 * 2**30)
    ('1551m', '6297m', '1082m')
    >>> driver_memory(54_000_000, 24 * 2**30), driver_memory(54_000_000, 2 * 2**30)
    ('12288m', '1024m')
    >>> driver_memory(None, 24 * 2**30), driver_memory(None, 2 * 2**30), driver_memory(None, 256 * 2**30)
    ('8192m', '1024m', '16384m')
    """
    if os.environ.get(MEMORY_ENV):
        return os.environ[MEMORY_ENV]
    from ..workspace import machine_memory

    total = machine_memory() if total is None else total
    if rows is None:
        return f"{int(min(16 * 2**30, max(2**30, total / 3))) // 2**20}m" if total else "4096m"
    cap = min(16 * 2**30, total / 2) if total else 16 * 2**30
    return f"{int(max(2**30, min(cap, HEAP_BASE + HEAP_PER_ROW * int(rows)))) // 2**20}m"


def shuffle_partitions_for(rows: int | None, local: bool, cores: int) -> int:
    """Shuffle partitions: one per ``ROWS_PER_PARTITION`` order lines, at least 2 per core on one machine
    (8 when the size is unknown) and 200 (Spark's default) on a cluster that does not say.

    >>> shuffle_partitions_for(None, True, 2), shuffle_partitions_for(5_400_000, True, 2)
    (8, 6)
    >>> shuffle_partitions_for(54_000_000, True, 2), shuffle_partitions_for(1_000, True, 4)
    (54, 8)
    """
    if rows is None:
        return 8 if local else 200
    return max(2 * cores, -(-int(rows) // ROWS_PER_PARTITION))


def materialize(sdf):
    """``sdf`` computed once and kept on the executors with its lineage cut (``localCheckpoint``).

    The customer features are one transpiled SQL query whose CTEs Spark inlines: a plan of some 2,000 lines
    that every later query over the frame (segments, churn frames) planned again, and matched against the
    cached frames, before running: most of the parity shop's Spark time was that planning (docs/scale.md,
    "Test time"). Over a materialized frame a later query plans a scan. The rows are the same; as for a
    cached frame, a lost executor loses them (local mode has one).
    """
    return sdf.localCheckpoint(eager=True)


def _bytes(memory: str) -> int:
    """Bytes of a JVM memory setting ("8192m", "1g", "512k", or bytes)."""
    units = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
    m = memory.strip().lower().rstrip("b")
    return int(float(m[:-1]) * units[m[-1]]) if m[-1:] in units else int(m)


def broadcast_threshold(memory: str) -> int:
    """Largest table Spark broadcasts in a join, in bytes: 1/200 of the driver heap, at most 10 MiB
    (Spark's default), so a broadcast never needs more than the heap has room for.

    >>> broadcast_threshold("8192m"), broadcast_threshold("1g"), broadcast_threshold("512m")
    (10485760, 5368709, 2684354)
    """
    return min(10 * 2**20, _bytes(memory) // 200)


def resource_error(exc: BaseException):
    """A :class:`shopseg.errors.ShopsegError` naming the setting to raise when ``exc`` (from Spark) says a
    resource ran out; None for any other failure."""
    from ..errors import ShopsegError

    text = str(exc)
    if "Not enough memory to build and broadcast" in text or "OutOfMemoryError" in text \
            or "Java heap space" in text:
        heap = _session_memory() or driver_memory()
        return ShopsegError(
            f"Spark ran out of memory (driver heap spark.driver.memory = {heap}): "
            + _first_java_line(text, ("OutOfMemoryError", "Not enough memory", "Java heap space")),
            hint=f"Give the driver more memory: {MEMORY_ENV}={2 * _bytes(heap) // 2**20}m (local mode: the "
                 "executors share it), or run on a cluster with --master; a broadcast failure also goes away "
                 "with spark.sql.autoBroadcastJoinThreshold=-1.")
    if "StackOverflowError" in text:
        return ShopsegError(
            f"Spark ran out of thread stack (-Xss{STACK} in spark.driver.extraJavaOptions): "
            + _first_java_line(text, ("StackOverflowError",)),
            hint="Raise the stack with SHOPSEG_SPARK_STACK=256m, or lower the number of items mined "
                 "(baskets.min_support higher).")
    return None


WORKER_ERROR = "shopseg-worker-error: "  # what a worker's ShopsegError travels to the driver as (then JSON)


def carry_errors(fn):
    """``fn`` (a generator function Spark runs on its workers: ``mapInArrow``, ``mapInPandas``) with a
    :class:`shopseg.errors.ShopsegError` it raises turned into one line the driver can read back
    (:func:`worker_error`): Spark hands the driver a Python worker's failure as the text of its traceback,
    in which a message and hint of several lines cannot be told apart from the rest."""
    import functools
    import json

    from ..errors import ShopsegError

    @functools.wraps(fn)
    def carried(*args):
        try:
            yield from fn(*args)
        except ShopsegError as e:
            doc = {"type": type(e).__name__, "message": e.message, "hint": e.hint}
            raise RuntimeError(WORKER_ERROR + json.dumps(doc)) from None

    return carried


def worker_error(exc: BaseException):
    """The :class:`shopseg.errors.ShopsegError` (its own class, message and hint) a worker function wrapped by
    :func:`carry_errors` raised, when ``exc`` (Spark's exception on the driver) carries one; else None.

    >>> import json
    >>> text = "PythonException: ...\\nRuntimeError: " + WORKER_ERROR + json.dumps(
    ...     {"type": "ConfigError", "message": "min_support too low", "hint": "Raise min_support"}) + "\\n\\tat ..."
    >>> e = worker_error(RuntimeError(text))
    >>> type(e).__name__, e.message, e.hint
    ('ConfigError', 'min_support too low', 'Raise min_support')
    >>> worker_error(RuntimeError("java.lang.OutOfMemoryError")) is None
    True
    """
    import json

    from .. import errors

    text = str(exc)
    at = text.rfind(WORKER_ERROR)
    if at < 0:
        return None
    try:
        doc, _ = json.JSONDecoder().raw_decode(text, at + len(WORKER_ERROR))
    except ValueError:
        return None
    cls = getattr(errors, str(doc.get("type")), None)
    if not (isinstance(cls, type) and issubclass(cls, errors.ShopsegError)):
        cls = errors.ShopsegError
    return cls(str(doc.get("message")), hint=doc.get("hint"))


def _session_memory() -> str | None:
    """spark.driver.memory of the JVM this process runs (None when there is none)."""
    if "pyspark" not in sys.modules:
        return None
    from pyspark import SparkContext

    sc = SparkContext._active_spark_context
    return sc.getConf().get("spark.driver.memory") if sc is not None else None


def _first_java_line(text: str, needles: tuple[str, ...]) -> str:
    for line in text.splitlines():
        if any(n in line for n in needles):
            return line.strip()[:300]
    return text.strip().splitlines()[0][:300] if text.strip() else "no message"


def spark_session(master: str | None = None, *, tmp_dir: str | os.PathLike | None = None,
                  app_name: str = "shopseg", shuffle_partitions: int | None = None, extra: dict | None = None,
                  rows: int | None = None):
    """Get (or create) a SparkSession configured for shopseg.

    ``master``: ``local[2]`` by default (``spark://host:7077``, ``yarn``, ``k8s://...`` on a cluster;
    ``spark-submit`` sets it itself, then pass None).  Spark's warehouse, local and Java temp dirs
    go under ``tmp_dir`` (a fresh temp folder by default), so nothing lands in the working directory.
    Timestamps are read and written as naive (``TIMESTAMP_NTZ``) in UTC, as DuckDB stores them, so
    casting to a date gives the same calendar day in both engines.

    Resources come from the machine and the data: the driver heap from the order lines (``rows``) and this
    machine's memory (:func:`driver_memory`), the broadcast threshold from the heap, a 64 MB thread stack for FP-growth's
    recursion, and the shuffle partitions from ``rows`` (the order lines; :func:`shuffle_partitions_for`).
    """
    require_pyspark()
    import warnings

    from pyspark.sql import SparkSession

    # pyspark 4.x warns on every pandas conversion under pandas 3; shopseg's parity tests cover what it uses
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)

    # Python workers run this interpreter (with shopseg importable), not whatever python3 is first on PATH
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    tmp = Path(tmp_dir) if tmp_dir is not None else Path(tempfile.mkdtemp(prefix="shopseg-spark-"))
    tmp.mkdir(parents=True, exist_ok=True)
    local = master or os.environ.get("SHOPSEG_SPARK_MASTER") or DEFAULT_MASTER
    if shuffle_partitions is None:  # Spark's 200 default makes tiny local jobs slow
        shuffle_partitions = shuffle_partitions_for(rows, local.startswith("local"), os.cpu_count() or 2)
    memory = driver_memory(rows)
    stack = os.environ.get("SHOPSEG_SPARK_STACK") or STACK
    java_opts = f"-Djava.io.tmpdir={tmp / 'java'} -Dderby.system.home={tmp / 'derby'} -Xss{stack}"
    (tmp / "java").mkdir(exist_ok=True)
    conf = {
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.sql.warehouse.dir": str(tmp / "warehouse"),
        "spark.local.dir": str(tmp / "local"),
        "spark.driver.extraJavaOptions": java_opts,
        "spark.executor.extraJavaOptions": java_opts,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.timestampType": "TIMESTAMP_NTZ",
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
        "spark.driver.memory": memory,  # read when the JVM starts (the first session of the process)
        "spark.sql.autoBroadcastJoinThreshold": str(broadcast_threshold(memory)),
        "spark.sql.adaptive.autoBroadcastJoinThreshold": str(broadcast_threshold(memory)),
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        **(extra or {}),
    }
    b = SparkSession.builder.appName(app_name)
    if master is not None or not os.environ.get("SPARK_ENV_LOADED"):  # spark-submit sets the master itself
        b = b.master(local)
    for k, v in conf.items():
        b = b.config(k, v)
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel("FATAL")  # errors reach the caller as exceptions
    return spark
