"""Two versions of one model under one name: a weighted split, optionally mirrored."""
