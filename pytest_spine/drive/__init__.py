"""The harness as a client of the platform under test: it sends (HTTP to the gate, declared commands) and
records every invocation and its answer in the History, as Jepsen's clients do."""
