"""cloudops-example: the template of a third-party cloudops plugin."""
