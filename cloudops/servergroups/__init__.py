"""Server groups: the common models, the contract every server-group cloud fulfils, and the kit.

``models`` holds the inputs, outputs and Spinnaker's naming rules; ``contract`` the verb list,
the tag keys and the activities' wire models; ``kit`` turns a cloud's small adapter
(:class:`~cloudops.servergroups.kit.ServerGroupCloud`) into the operation classes; ``plugin``
makes a provider's hook implementations from them.
"""
