"""A faithful local emulator of the Azure Resource Manager subset cloudops calls.

Why: no usable emulator of ARM compute exists on PyPI (amber-cloud has no REST scale sets,
topaz needs .NET), and cloudops-azure must be tested through the official clients over HTTP,
where throttling, long-running operations and error bodies really happen.

What it covers, on the real wire format (checked against azure-mgmt-compute's own LRO code):

- ``Microsoft.Compute/virtualMachineScaleSets``: PUT (201 created / 200 replaced, body with
  ``provisioningState`` Creating/Updating, ``Azure-AsyncOperation`` and ``Retry-After``),
  PATCH (200 only, merge semantics: objects merge, arrays replace), GET (``$expand=userData``),
  DELETE (202 with ``Azure-AsyncOperation`` and ``Location``; 204 when absent), list per
  resource group (``value`` + absolute ``nextLink``), ``POST .../delete`` of instances
  (``instanceIds``; 202 with ``Location``; capacity drops by as many) and
  ``POST .../manualupgrade`` (brings VMs to the latest model) and ``POST .../restart``
  (``instanceIds`` or every VM; 202 with ``Location``; restarts counted per VM).
- ``.../virtualMachines`` of a scale set (list, paged; GET one; ``$expand=instanceView`` gives
  ``ProvisioningState/*`` and ``PowerState/*``): VMs are created ``Creating`` and become
  ``Succeeded``/running when the operation that made them completes; scale-in removes the
  highest instance ids after balancing zones; ``upgradePolicy`` Automatic applies model
  changes (e.g. backend pools) to existing VMs when the update completes, Rolling in batches
  after it (and needs a health probe or the Application Health extension: ``rolling``), Manual
  not at all (``latestModelApplied``).
- The operation-status resource (``{"status": InProgress|Succeeded|Failed|Canceled,
  "error": ...}``) and its ``monitor=true`` Location form (202 until done).
- ``Microsoft.Network/loadBalancers`` (PUT, GET) and their ``backendAddressPools`` (list, GET)
  with ``backendIPConfigurations`` listing the VM NICs in each pool; subnets (GET).
- Resource groups (PUT, GET).
- Errors as ARM sends them: 401 ``AuthenticationFailed`` without ``Authorization``, 400
  ``MissingApiVersionParameter``, 404 ``ResourceNotFound``/``ResourceGroupNotFound``, 400
  ``InvalidResourceReference`` (missing subnet or backend pool), 400 ``InvalidParameter``
  (missing image or required field), 400 ``InvalidResourceName``, 409
  ``InvalidResourceLocation``/``PropertyChangeNotAllowed``, 409 ``OperationNotAllowed`` (quota,
  scale set being created or deleted, an action beside a running update), 409
  ``SkuNotAvailable``; a PUT or PATCH while a model update runs preempts it (the older operation
  ends Canceled with ``OperationPreempted``); VM-level deletes run beside model updates; 400
  ``InvalidParameter`` for an instance id that is no longer active; ``etag`` on scale sets with
  ``If-Match`` / ``If-None-Match: *`` (412 ``PreconditionFailed``).

Modules: ``resources`` (the dataclasses), ``checks`` (validation, as ARM answers it), ``state``
(the rules and long-running operations), ``wire`` (JSON bodies and LRO headers), ``routes``
(URLs and the HTTP handler), ``emulator`` (:class:`AzureEmulator`), ``network`` (public IPs,
load balancers with frontends, probes and rules, network and application security groups).

Not covered: other resource types and actions, Flexible orchestration, autoscale settings, the
health a probe or extension reports (VMs are healthy once running); a scale set's references to
network security groups are not checked. Throttling and 5xx are not produced here: put a
``FaultProxy`` (flavor ``azure``) in front.
"""

from cloudops_testing.azure_emulator import network as _network  # noqa: F401  (its routes)
from cloudops_testing.azure_emulator.emulator import DEFAULT_SUBSCRIPTION, AzureEmulator
from cloudops_testing.azure_emulator.errors import ArmError
from cloudops_testing.azure_emulator.resources import EmulatorSettings

__all__ = ["DEFAULT_SUBSCRIPTION", "ArmError", "AzureEmulator", "EmulatorSettings"]
