"""The ``cartgraph`` command line (see ``cartgraph --help``)."""
