"""miniplat: a minimal event-driven platform written independently of the bundled reference.

It exists so the harness can be shown verifying a platform it did not write. It uses only the standard
library, confluent-kafka and boto3, and is driven through its CLI (``python -m miniplat start|run|teardown
--config FILE``).
"""

from __future__ import annotations

VERSION = "0.1.0"
