"""The ``sembridge`` command line: thin commands over the library."""
