/**
 * The JSON contract of cloudops' one workflow, `UntypedCloudOperationRunner`, for TypeScript.
 *
 * These types mirror the pydantic models in `cloudops/models.py`. Every operation takes the same
 * request and answers with the same result shape; the operation's own input and output JSON
 * schemas are printed by `cloudops operations show NAME` and listed in the docs' operations
 * reference.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';

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
