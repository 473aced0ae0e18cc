"""Pingan (平安): the composition root — configuration, command line, and how the parts are wired."""

__version__ = "0.1.0"
