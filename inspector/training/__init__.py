"""Learning from the station's good parts: the good-part library and training jobs (no Qt)."""
