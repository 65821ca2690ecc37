"""The package's version, in a module of its own so that any module may import it without the package
``__init__`` (which imports the client) having run first."""

__version__ = "0.1.0"
"""The package's version (PEP 440), also sent in the ``User-Agent`` of every request (``incluster-sdk/VERSION``)."""
