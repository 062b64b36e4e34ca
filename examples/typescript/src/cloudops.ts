/**
 * The JSON contract of cloudops' one workflow, `UntypedCloudOperationRunner`, for TypeScript.
 *
 * These types mirror the pydantic models in `cloudops/models.py`. Every operation takes the same
 * request and answers with the same result shape; the operation's own input and output JSON
 * schemas are printed by `cloudops operations show NAME` and listed in the docs' operations
 * reference.
 */
import { randomUUID } from 'node:crypto';
import {
  defaultPayloadConverter,
  type Client,
  type WorkflowClientInterceptor,
} from '@temporalio/client';
import { CompactEncrypt, importSPKI } from 'jose';

/** The workflow type every client starts. */
export const RUNNER_WORKFLOW = 'UntypedCloudOperationRunner';

/** What any client sends (`cloudops.OperationRequest`). */
export interface OperationRequest {
  /** Full operation name, e.g. `example.echo` or `aws.createServerGroup`. */
  operation: string;
  /** Account name from the worker's `cloudops.toml` (never a secret); omit for cloud-less operations. */
  account?: string | null;
  region?: string | null;
  /** The operation's input; validated against its input model inside the runner. */
  input?: Record<string, unknown>;
  /** Idempotency key: it becomes the workflow id, so the same request twice runs once. */
  request_id?: string | null;
  /** application, user, pipeline: they become search attributes. */
  labels?: Record<string, string>;
}

export interface RollbackRecord {
  step: string;
  ok: boolean;
  error?: string | null;
}

/** A business failure: `INVALID_INPUT`, `UNKNOWN_OPERATION`, `NOT_FOUND`, `CANCELLED`... */
export interface OperationError {
  code: string;
  message: string;
  details: Record<string, unknown>;
  rollbacks: RollbackRecord[];
}

export interface StepRecord {
  name: string;
  started_at: string;
  ended_at: string | null;
}

export interface ResultMetadata {
  operation: string;
  workflow_id: string;
  run_id: string;
  account: string | null;
  region: string | null;
  attempt: number;
  started_at: string;
  ended_at: string;
  steps: StepRecord[];
  /** The verified caller (token subject) when the worker requires identity. */
  subject?: string | null;
}

/** The answer of every operation (`cloudops.WorkflowResult`). */
export interface WorkflowResult<T> {
  ok: boolean;
  value: T | null;
  error: OperationError | null;
  metadata: ResultMetadata | null;
}

/**
 * Run one operation and wait for its WorkflowResult.
 *
 * A business failure (bad input, quota, not found, cancelled) is a result with `ok: false`;
 * only a bug, a timeout of the whole operation or a termination makes this promise reject
 * (with `WorkflowFailedError`). `request` is typed `unknown` on purpose: the runner validates
 * whatever JSON it gets, so a malformed request is answered with `INVALID_INPUT`.
 */
export async function runOperation<T>(
  client: Client,
  taskQueue: string,
  request: OperationRequest | unknown,
): Promise<WorkflowResult<T>> {
  const given = (request as OperationRequest | null)?.request_id;
  const workflowId = typeof given === 'string' ? given : `cloudops-ts-${randomUUID()}`;
  const payload =
    request !== null && typeof request === 'object' && !Array.isArray(request)
      ? { ...(request as object), request_id: workflowId }
      : request;
  return await client.workflow.execute(RUNNER_WORKFLOW, {
    taskQueue,
    workflowId,
    args: [payload],
  });
}

/** The workflow header carrying the caller's sealed token (see docs/security.md). */
export const IDENTITY_HEADER = 'cloudops-identity';

/** A token, or a function returning a fresh one (called for every start and update). */
export type TokenSource = string | (() => string | Promise<string>);

/**
 * Seal `token` for the request `workflowId` (and, for an approval, its update `updateId`):
 * a compact JWE (RSA-OAEP-256 + A256GCM) to the workers' public seal key, so that the
 * workflow history holds nothing a reader could replay as a bearer token.
 */
export async function sealToken(
  token: string,
  workflowId: string,
  sealPublicPem: string,
  updateId?: string,
): Promise<string> {
  const key = await importSPKI(sealPublicPem, 'RSA-OAEP-256');
  const content: Record<string, string> = { token, workflow_id: workflowId };
  if (updateId !== undefined) content.update_id = updateId;
  return await new CompactEncrypt(new TextEncoder().encode(JSON.stringify(content)))
    .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', cty: 'JWT' })
    .encrypt(key);
}

/**
 * A client interceptor adding the sealed token to every workflow start and update (approvals),
 * for workers that require identity:
 *
 *   new Client({ connection, interceptors: { workflow: [identityInterceptor(token, pem)] } })
 */
export function identityInterceptor(
  token: TokenSource,
  sealPublicPem: string,
): WorkflowClientInterceptor {
  const header = async (workflowId: string, updateId?: string) => {
    const value = typeof token === 'string' ? token : await token();
    return defaultPayloadConverter.toPayload(
      await sealToken(value, workflowId, sealPublicPem, updateId),
    );
  };
  return {
    async startWithDetails(input, next) {
      const sealed = await header(input.options.workflowId);
      return next({ ...input, headers: { ...input.headers, [IDENTITY_HEADER]: sealed } });
    },
    async startUpdate(input, next) {
      // The seal names the update: choose its id here when the caller did not.
      const updateId = input.options.updateId ?? randomUUID();
      const sealed = await header(input.workflowExecution.workflowId, updateId);
      return next({
        ...input,
        options: { ...input.options, updateId },
        headers: { ...input.headers, [IDENTITY_HEADER]: sealed },
      });
    },
  };
}
