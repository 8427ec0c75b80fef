"""The packaged suite: collected by the plugin when ``--spine-env`` is given, from any directory."""
