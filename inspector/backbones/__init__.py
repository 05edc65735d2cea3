"""Loading the foundation models (open_clip, transformers) from the registry.

Torch, open_clip and transformers are imported inside the functions here, never at import time.
"""
