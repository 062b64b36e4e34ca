"""cloudops-azure: provider plugin."""
