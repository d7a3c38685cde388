"""Machinery shared by several methods: the epoch trainer, cluster heads, exact kNN, feature normalisation."""
