"""The study on Dask: the driver (runner.py), the clusters it runs on (clusters.py), what it sends
the workers (snapshot.py) and what a worker does with one experiment (worker.py)."""
