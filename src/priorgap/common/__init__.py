"""The plumbing every stage shares: params, the command line, atomic outputs, file errors, model files,
the device, MLflow (the store and the runs), and the offline `dvc plots` page."""
