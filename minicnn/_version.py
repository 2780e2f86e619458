"""minicnn's version, in one place: the package (``minicnn.__version__``), ``minicnn info`` and
setup.py read it from here."""

__version__ = "0.1.0"
