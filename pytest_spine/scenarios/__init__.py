"""Chaos scenarios: YAML files (``data/scenarios/*.yaml``, schema ``data/schemas/scenario.schema.json``)
loaded into frozen records (``model``), validated with file and place (``loader``), workload generators
(``workloads`` registry, ``generators``), the runner with guaranteed rollback (``runner``), the chaos
driver protocol (``driver``) and the reference driver (``reference_driver``)."""
