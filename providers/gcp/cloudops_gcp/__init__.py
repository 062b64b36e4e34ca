"""cloudops-gcp: provider plugin."""
