"""Anomaly detectors behind one protocol (see :mod:`inspector.detectors.base`)."""
