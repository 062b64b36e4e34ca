"""cloudops-aws: AWS provider plugin."""
