"""cloudops-azure: server groups on Azure VM scale sets (azure-mgmt-compute).

The plugin module (:mod:`cloudops_azure.plugin`) registers the common server-group operations
(``azure.createServerGroup`` ...), their activities and the ``azure`` provider. See
``docs/providers/azure.md``.
"""
