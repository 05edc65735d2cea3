"""Inspector: a desktop inspection station for visual quality control."""

__version__ = "0.1.0"
