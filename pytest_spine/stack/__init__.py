"""The local stack on 127.0.0.1: Kafka in KRaft mode (jars from Maven Central, run with the JDK), moto's S3
server, PostgreSQL and Toxiproxy (built with ``go install``), with proxies in front of Kafka, S3 and the
ingestion gate.

Modules: ``install`` (version-keyed cache), ``processes`` (spawn/stop/kill by pid and start time),
``kafka``/``s3``/``toxiproxy``/``postgres`` (one service each), ``toxiproxy_api`` (toxics over HTTP),
``state`` (the state file), ``lifecycle`` (``spine stack up|down|status``), ``fixture`` (the session stack),
``containers`` (the testcontainers path), ``gate`` (the ingestion gate service process), ``bench``.
Heavy client libraries are imported where they are used.
"""

from __future__ import annotations
