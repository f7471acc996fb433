"""Step 1 of dvc.yaml (prepare): MNIST from its sources, the split, and the data files stages pass on
(the splits and the codes)."""
