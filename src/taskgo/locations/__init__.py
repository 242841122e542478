"""Where users are: the current municipality from GPS fixes, and the history of stays."""
