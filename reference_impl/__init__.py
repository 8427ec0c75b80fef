"""The bundled reference platform: spine components, control plane, security layer, store adapters, mutants.

It never imports pytest_spine."""
