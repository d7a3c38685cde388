"""Analysis figures: the UNIC paper's neighbour figures and per-run figures (matplotlib, Agg)."""
