"""The ``aftersales`` command line (entry point ``cli.main:main``)."""
