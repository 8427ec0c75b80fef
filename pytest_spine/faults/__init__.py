"""Fault kinds behind one Protocol (``base.FaultKind``), registered by name for scenario files; the
built-in ``fault_point`` kind arms a target's named fault points and disarms them on rollback."""
