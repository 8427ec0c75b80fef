"""Sub-commands of ``spine``: one module each, exposing ``register(subparsers)``.

``register`` adds a parser and sets ``func`` (taking the parsed args, returning an exit code).
Heavy imports belong inside ``func``, not at module level.
"""
