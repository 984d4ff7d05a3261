"""The TF1 graph-building layer: the Graph users build into (names, scopes, collections, the
default-graph stack) over the IR, which knows nothing of it."""
