"""gcp fixtures: the local emulator, an account pointed at it."""
