"""The gateway's version, at the bottom of the package so that every layer may read it."""

__version__ = "0.1.0"
