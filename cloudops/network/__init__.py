"""Load balancers and security groups (firewalls): common models, the contract, and the kit.

``models`` holds the provider-agnostic inputs and outputs and their validation; ``contract`` the
verb list and the wire models of the activities; ``kit`` turns a cloud's small adapter
(:class:`~cloudops.network.kit.NetworkCloud`) into the eight operations; ``parts`` makes a
provider's generic part activities (read, ensure, delete) from a table of per-kind handlers.
"""
