"""cloudops-reference: the smallest complete server-group provider, on ``reference_cloud``."""
