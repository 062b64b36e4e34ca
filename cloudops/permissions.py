"""Who may change what: per-account, per-region and per-application READ/WRITE permissions.

As Spinnaker's Fiat does, every operation a request runs (the one it names and every operation
that one composes, e.g. each step of a deploy) is checked against the verified caller's subject
and groups before it changes anything. Read-only operations (``CloudOperation.read_only``; the
server-group contract's ``READ_VERBS``) need ``READ``; every other operation needs ``WRITE``,
which includes ``READ``. With authorization on, what no rule grants is denied.

.. code-block:: toml

    authorization = "on"            # "off": no identity, no check (local development)

    [[permissions]]
    groups = ["shop-deployers"]     # and/or subjects = ["alice@example.com"]
    access = "WRITE"                # READ or WRITE
    accounts = ["prod-aws"]         # wildcards: "prod-*"; default "*"
    regions = ["us-east-1"]         # default "*"
    applications = ["shop"]         # the server group's application; default "*"
    operations = ["*"]              # default "*"

Each decision is taken on the worker in a local activity, so it is recorded in history and a
replay never takes it again. A plugin can decide instead of the table through the ``authorize``
hook (e.g. to ask OPA); it returns ``None`` to leave the decision to the next one.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import logging
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.worker import (
    ExecuteWorkflowInput,
    HandleUpdateInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from cloudops.errors import NOT_READY_TYPE, RETRYABLE_TYPE, BusinessError, ErrorCode
from cloudops.identity import HEADER, MAX_SEALED, IdentityCheck, IdentityConfig, Verdict
from cloudops.models import Input, Output

if TYPE_CHECKING:
    from cloudops.operation import CloudOperation
    from cloudops.registry import CloudOps

__all__ = [
    "AUTHORIZE_ACTIVITY",
    "VERIFY_IDENTITY_ACTIVITY",
    "AuthorizationDecision",
    "AuthorizationRequest",
    "Authorizer",
    "Guard",
    "PermissionRule",
    "SecurityConfig",
    "application_of",
]

VERIFY_IDENTITY_ACTIVITY = "cloudops.verify_identity"
AUTHORIZE_ACTIVITY = "cloudops.authorize"
#: ``workflow.patched`` id of the identity path (histories recorded before it replay without).
AUTHZ_PATCH = "cloudops-authorization"
#: ``workflow.patched`` id of checking who sends input (an approval) to a running operation.
INPUT_AUTHZ_PATCH = "cloudops-authorize-input"
#: Attempts at verifying a token while its issuer's JWKS cannot be fetched (also bounded by
#: ``identity.verify_timeout_seconds``); then the request fails closed.
VERIFY_ATTEMPTS = 6
Access = Literal["READ", "WRITE"]

audit_log = logging.getLogger("cloudops.audit")


class PermissionRule(BaseModel):
    """One ``[[permissions]]`` table: who gets which access where."""

    model_config = ConfigDict(extra="forbid")

    access: Access
    groups: list[str] = Field(default_factory=list)
    subjects: list[str] = Field(default_factory=list)
    accounts: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    regions: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    applications: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    operations: list[str] = Field(default_factory=lambda: ["*"], min_length=1)

    @model_validator(mode="after")
    def _names_someone(self) -> PermissionRule:
        if not self.groups and not self.subjects:
            raise ValueError("a rule needs groups or subjects (whom it grants access)")
        return self

    def grants(self, request: AuthorizationRequest) -> bool:
        """True when this rule lets ``request``'s caller do what it asks."""
        if request.access == "WRITE" and self.access != "WRITE":
            return False
        who = _matches(self.subjects, request.subject) or any(
            _matches(self.groups, group) for group in request.groups
        )
        return (
            who
            and _matches(self.accounts, request.account or "")
            and _matches(self.regions, request.region or "")
            and _matches(self.applications, request.application or "")
            and _matches(self.operations, request.operation)
        )


def _matches(patterns: list[str], value: str) -> bool:
    return any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns)


class SecurityConfig(BaseModel):
    """The security keys of ``cloudops.toml``: ``authorization``, ``[identity]``, permissions."""

    authorization: Literal["on", "off"] | None = None
    identity: IdentityConfig | None = None
    permissions: list[PermissionRule] = Field(default_factory=list)


class AuthorizationRequest(Input):
    """What the ``authorize`` hook and the permission table decide on."""

    subject: str
    issuer: str
    groups: list[str] = Field(default_factory=list)
    operation: str
    provider: str
    account: str | None = None
    region: str | None = None
    application: str | None = None
    access: Access
    #: The input sent to the running operation (``judgement``: an approval or a rejection);
    #: None when the request is to run ``operation``.
    input_name: str | None = None


class AuthorizationDecision(Output):
    """An allow or a deny, and the rule (or policy) that decided."""

    allowed: bool
    rule: str = ""
    reason: str = ""


class Authorizer:
    """The worker's identity verifier and permission table (``None`` when authorization is off)."""

    def __init__(
        self, config: SecurityConfig, cloudops: CloudOps, verifier: Any | None = None
    ) -> None:
        from cloudops.identity import TokenVerifier

        assert config.identity is not None
        self.config = config
        self.rules = config.permissions
        self.cloudops = cloudops
        self.verifier = verifier or TokenVerifier(config.identity)

    @classmethod
    def build(
        cls, config: SecurityConfig, cloudops: CloudOps, accounts: Mapping[str, Any]
    ) -> Authorizer | None:
        """Check the security config at worker start; a problem is a ConfigError naming the key."""
        from cloudops.accounts import ConfigError

        mode = config.authorization
        if mode == "off":
            return None
        if config.identity is None:
            if mode == "on":
                raise ConfigError('authorization = "on" needs an [identity] table (issuers)')
            if config.permissions:
                raise ConfigError(
                    "permissions: rules need an [identity] table to verify callers against "
                    '(or set authorization = "off")'
                )
            return None
        catalogue = cloudops.catalogue
        for index, rule in enumerate(config.permissions):
            for account in rule.accounts:
                if not _is_pattern(account) and account not in accounts:
                    raise ConfigError(
                        f"permissions[{index}].accounts: unknown account {account!r} "
                        f"(configured: {', '.join(sorted(accounts)) or 'none'})"
                    )
            for operation in rule.operations:
                if not _is_pattern(operation) and catalogue.operation(operation) is None:
                    raise ConfigError(
                        f"permissions[{index}].operations: unknown operation {operation!r}"
                    )
        try:
            return cls(config, cloudops)
        except (OSError, ValueError) as err:
            message = str(err)
            if "identity." not in message:
                message = f"identity.seal_key: cannot load {config.identity.seal_key}: {err}"
            raise ConfigError(message) from None

    def verify(self, request: IdentityCheck) -> Verdict:
        """Open and verify the sealed token (the ``cloudops.verify_identity`` local activity)."""
        verdict: Verdict = self.verifier.check(request)
        return verdict

    def decide(self, request: AuthorizationRequest) -> AuthorizationDecision:
        """A plugin's decision through the ``authorize`` hook, else the permission table."""
        decided = self.cloudops.pm.hook.authorize(request=request)
        if decided is not None:
            if not isinstance(decided, AuthorizationDecision):
                decided = AuthorizationDecision.model_validate(decided)
            return decided
        for index, rule in enumerate(self.rules):
            if rule.grants(request):
                return AuthorizationDecision(allowed=True, rule=f"permissions[{index}]")
        return AuthorizationDecision(
            allowed=False,
            reason=f"no [[permissions]] rule grants {request.access} on account "
            f"{request.account or '(none)'}, region {request.region or '(none)'}, application "
            f"{request.application or '(none)'}, operation {request.operation} to "
            f"{request.subject} or to its groups ({', '.join(request.groups) or 'none'})",
        )

    def authorize(self, request: AuthorizationRequest) -> AuthorizationDecision:
        """Decide, log the decision, and raise PERMISSION_DENIED for a deny."""
        decision = self.decide(request)
        audit_log.info(
            "authorization %s",
            json.dumps(
                {
                    "event": "authorization",
                    "allowed": decision.allowed,
                    "rule": decision.rule,
                    **request.model_dump(mode="json"),
                },
                sort_keys=True,
            ),
        )
        if not decision.allowed:
            verb = f"send {request.input_name!r} to" if request.input_name else "run"
            raise BusinessError(
                ErrorCode.PERMISSION_DENIED,
                f"{request.subject} may not {verb} {request.operation} ({request.access}) on "
                f"account {request.account or '(none)'}, application "
                f"{request.application or '(none)'}: {decision.reason or 'denied by policy'}",
                {
                    "subject": request.subject,
                    "groups": request.groups,
                    "operation": request.operation,
                    "access": request.access,
                    "account": request.account,
                    "region": request.region,
                    "application": request.application,
                    "missing": decision.reason or decision.rule,
                    **({"input": request.input_name} if request.input_name else {}),
                },
            )
        return decision


def _is_pattern(value: str) -> bool:
    return any(c in value for c in "*?[")


def security_activities(authorizer: Authorizer | None) -> list[Callable[..., Any]]:
    """The two local activities; on a worker without authorization they fail closed."""

    def off() -> BusinessError:
        return BusinessError(
            ErrorCode.PERMISSION_DENIED,
            "this operation started with authorization on, but this worker has it off: "
            "it cannot check the caller (configure [identity] on every worker of the queue)",
        )

    @activity.defn(name=VERIFY_IDENTITY_ACTIVITY)
    async def verify_identity(request: IdentityCheck) -> Verdict:
        """Open the sealed token and verify it against the trusted issuers."""
        if authorizer is None:
            raise off()
        # Fetching a JWKS blocks: keep it off the worker's event loop.
        return await asyncio.to_thread(authorizer.verify, request)

    @activity.defn(name=AUTHORIZE_ACTIVITY)
    async def authorize(request: AuthorizationRequest) -> AuthorizationDecision:
        """Allow or deny one operation for a verified caller."""
        if authorizer is None:
            raise off()
        return await asyncio.to_thread(authorizer.authorize, request)

    return [verify_identity, authorize]


# --- workflow side -----------------------------------------------------------------------------


def application_of(value: Any, depth: int = 0) -> str | None:
    """The application an operation input acts on, or None.

    Its ``application``, or the one named by its ``server_group``, ``source`` or ``cluster``
    (``app-stack-detail-vNNN``), looking one level into a nested model or JSON object (a
    deploy's ``server_group``: the provider's ``createServerGroup`` input).
    """
    from cloudops.servergroups.models import ServerGroupName

    def get(name: str) -> Any:
        return value.get(name) if isinstance(value, Mapping) else getattr(value, name, None)

    application = get("application")
    if isinstance(application, str) and application:
        return application
    for name in ("server_group", "source", "cluster"):
        field = get(name)
        if isinstance(field, str) and field:
            parsed = ServerGroupName.try_parse(field)
            if parsed is not None:
                return parsed.application
        elif isinstance(field, BaseModel | Mapping) and depth == 0:
            found = application_of(field, depth + 1)
            if found:
                return found
    return None


class Guard:
    """The runner's identity and permission checks; their verdicts come from history."""

    def __init__(
        self, header: Payload | None, labels: Mapping[str, str], verify_timeout: timedelta
    ) -> None:
        self._header = header
        self._labels = dict(labels)
        self._verify_timeout = verify_timeout
        self.verdict: Verdict | None = None
        #: The application of the first operation checked (the request's), for the audit.
        self.application: str | None = self._labels.get("application")
        self._allowed: set[tuple[Any, ...]] = set()
        #: The request's own operation as first authorized: what an approval must be allowed on.
        self._target: AuthorizationRequest | None = None

    @staticmethod
    def _sealed(header: Payload | None, what: str = "the request") -> str:
        if header is None:
            raise BusinessError(
                ErrorCode.UNAUTHENTICATED,
                f"{what} carries no identity: this worker requires a signed token in the "
                f"{HEADER!r} header (cloudops run --token-file, CLOUDOPS_TOKEN)",
                {"reason": "missing"},
            )
        try:
            value = workflow.payload_converter().from_payload(header)
        except Exception:
            value = None
        if not isinstance(value, str) or not value or len(value) > MAX_SEALED:
            raise BusinessError(
                ErrorCode.UNAUTHENTICATED,
                f"the {HEADER!r} header is not a sealed token (a JSON string holding a JWE)",
                {"reason": "malformed"},
            )
        return value

    async def _verify(self, check: IdentityCheck) -> Verdict:
        try:
            verdict: Verdict = await workflow.execute_local_activity(
                VERIFY_IDENTITY_ACTIVITY,
                check,
                result_type=Verdict,
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=self._verify_timeout,
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(milliseconds=500),
                    maximum_interval=timedelta(seconds=10),
                    maximum_attempts=VERIFY_ATTEMPTS,
                ),
            )
        except (ActivityError, ApplicationError) as err:
            raise _as_business(err, "the caller's identity could not be verified") from None
        return verdict

    async def _decide(self, request: AuthorizationRequest, what: str) -> None:
        try:
            await workflow.execute_local_activity(
                AUTHORIZE_ACTIVITY,
                request,
                result_type=AuthorizationDecision,
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=timedelta(minutes=2),
            )
        except (ActivityError, ApplicationError) as err:
            raise _as_business(err, f"{what} could not be authorized") from None

    async def authenticate(self) -> Verdict:
        """Verify the caller once, at the operation's start (a local activity)."""
        sealed = self._sealed(self._header)
        verdict = await self._verify(
            IdentityCheck(sealed=sealed, workflow_id=workflow.info().workflow_id)
        )
        self.verdict = verdict
        return verdict

    async def authorize_input(self, header: Payload | None, update_id: str, name: str) -> Verdict:
        """Verify who sends input ``name`` (an approval); it needs WRITE where the operation runs.

        UNAUTHENTICATED or PERMISSION_DENIED otherwise (the update fails; the operation waits on).
        """
        sealed = self._sealed(header, f"the {name!r} input")
        verdict = await self._verify(
            IdentityCheck(
                sealed=sealed, workflow_id=workflow.info().workflow_id, update_id=update_id
            )
        )
        target = self._target
        if target is None:
            raise BusinessError(
                ErrorCode.PERMISSION_DENIED,
                f"the operation was not authorized yet: {name!r} cannot be sent to it",
            )
        request = target.model_copy(
            update={
                "subject": verdict.subject,
                "issuer": verdict.issuer,
                "groups": verdict.groups,
                "access": "WRITE",
                "input_name": name,
            }
        )
        await self._decide(request, f"sending {name!r} to {target.operation}")
        return verdict

    async def authorize(
        self,
        cls: type[CloudOperation[Any, Any]],
        model: Any,
        account: str | None,
        region: str | None,
    ) -> None:
        """Check the caller may run ``cls`` here; PERMISSION_DENIED if not (once per target)."""
        verdict = self.verdict
        if verdict is None:
            raise BusinessError(ErrorCode.UNAUTHENTICATED, "the caller was not verified")
        application = application_of(model) or self._labels.get("application")
        access: Access = "READ" if cls.read_only else "WRITE"
        key = (cls.full_name(), account, region, application, access)
        if not self._allowed:
            self.application = application
        if key in self._allowed:
            return
        request = AuthorizationRequest(
            subject=verdict.subject,
            issuer=verdict.issuer,
            groups=verdict.groups,
            operation=cls.full_name(),
            provider=cls.provider,
            account=account,
            region=region,
            application=application,
            access=access,
        )
        await self._decide(request, cls.full_name())
        if self._target is None:
            self._target = request
        self._allowed.add(key)


def _as_business(err: ActivityError | ApplicationError, what: str) -> BusinessError:
    cause = err.cause if isinstance(err, ActivityError) else err
    if isinstance(cause, ApplicationError):
        details = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
        kind = cause.type or ""
        if cause.non_retryable and kind not in (RETRYABLE_TYPE, NOT_READY_TYPE, ""):
            return BusinessError(kind, cause.message, details)
        return BusinessError(
            ErrorCode.RETRIES_EXHAUSTED,
            f"{what} (failing closed): {cause.message}",
            {**details, "error_type": kind},
        )
    return BusinessError(ErrorCode.RETRIES_EXHAUSTED, f"{what} (failing closed): {cause or err}")


class _HeaderInbound(WorkflowInboundInterceptor):
    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        target = workflow.instance()
        if hasattr(target, "identity_header"):
            target.identity_header = input.headers.get(HEADER)
        return await super().execute_workflow(input)

    def _keep(self, input: HandleUpdateInput) -> None:
        target = workflow.instance()
        headers = getattr(target, "update_identity", None)
        if isinstance(headers, dict):
            headers[input.id] = input.headers.get(HEADER)

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        self._keep(input)  # validators do not run on replay: the handler keeps it again
        super().handle_update_validator(input)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        self._keep(input)
        return await super().handle_update_handler(input)


class IdentityHeaderInterceptor(Interceptor):
    """Hands the ``cloudops-identity`` header of the start and of updates to the runner."""

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        return _HeaderInbound
