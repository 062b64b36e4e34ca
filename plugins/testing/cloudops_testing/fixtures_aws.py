"""AWS fixtures: moto in server mode, fault proxy, an account pointed at them."""
