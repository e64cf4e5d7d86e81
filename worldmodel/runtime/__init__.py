"""Plumbing every layer uses: atomic writes, devices, distributed helpers, paths, progress bars,
provenance, run logs, seeding and the command runner. Not part of the model."""
