"""Real adapters for the reference platform's ports: ``KafkaBus`` (confluent-kafka) and ``S3ObjectStore``
(boto3). Import them from their modules; the heavy client libraries load only then."""

from __future__ import annotations
