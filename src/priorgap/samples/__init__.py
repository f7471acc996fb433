"""Steps classifier, reference and evaluate: the feature network, the reference file of the real
test set, the sample metrics, and the sample figures."""
