"""Does a workspace reproduce the committed figures? verify.py holds each headline figure to a
tolerance; classifier_spread.py measures the classifier's share of it."""
