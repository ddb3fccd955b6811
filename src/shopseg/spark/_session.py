"""A SparkSession for shopseg: loopback driver, temp warehouse, UTC, naive timestamps, quiet logs."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from . import require_pyspark

DEFAULT_MASTER = "local[2]"


def spark_session(master: str | None = None, *, tmp_dir: str | os.PathLike | None = None,
                  app_name: str = "shopseg", shuffle_partitions: int | None = None, extra: dict | None = None):
    """Get (or create) a SparkSession configured for shopseg.

    ``master``: ``local[2]`` by default (``spark://host:7077``, ``yarn``, ``k8s://...`` on a cluster;
    ``spark-submit`` sets it itself, then pass None).  Spark's warehouse, local and Java temp dirs
    go under ``tmp_dir`` (a fresh temp folder by default), so nothing lands in the working directory.
    Timestamps are read and written as naive (``TIMESTAMP_NTZ``) in UTC, as DuckDB stores them, so
    casting to a date gives the same calendar day in both engines.
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
        shuffle_partitions = 8 if local.startswith("local") else 200
    java_opts = f"-Djava.io.tmpdir={tmp / 'java'} -Dderby.system.home={tmp / 'derby'}"
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
