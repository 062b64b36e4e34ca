/**
 * Run cloudops operations from TypeScript with @temporalio/client.
 *
 *   TEMPORAL_ADDRESS=localhost:7233 CLOUDOPS_TASK_QUEUE=cloudops npm start
 *
 * Connection settings come from Temporal's environment configuration (TEMPORAL_ADDRESS,
 * TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE), as for the Python
 * client. Prints one WorkflowResult per line as JSON: an `example.echo` that succeeds, then a
 * malformed request that the runner answers with INVALID_INPUT.
 *
 * For workers that require identity, set CLOUDOPS_TOKEN (or CLOUDOPS_TOKEN_FILE, re-read for
 * every request) and CLOUDOPS_SEAL_KEY (the workers' public seal key, a PEM file), as for the
 * `cloudops` command: every request then carries the token sealed in its `cloudops-identity`
 * header.
 */
import { readFileSync } from 'node:fs';

import { Client, Connection, type WorkflowClientInterceptor } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';

import { identityInterceptor, runOperation, type OperationRequest } from './cloudops.js';

/** Output of `example.echo` (see `cloudops operations show example.echo`). */
interface EchoOutput {
  text: string;
  worker: string;
}

/** The identity interceptor from CLOUDOPS_TOKEN / CLOUDOPS_TOKEN_FILE and CLOUDOPS_SEAL_KEY. */
function identityFromEnv(): WorkflowClientInterceptor[] {
  const { CLOUDOPS_TOKEN: token, CLOUDOPS_TOKEN_FILE: file, CLOUDOPS_SEAL_KEY: sealKey } =
    process.env;
  if (!token && !file) return [];
  if (!sealKey) {
    // Never send a token unsealed: it would land in the workflow history in clear.
    throw new Error('a token needs the workers\' public seal key: set CLOUDOPS_SEAL_KEY');
  }
  const source = token ? token.trim() : () => readFileSync(file as string, 'utf8').trim();
  return [identityInterceptor(source, readFileSync(sealKey, 'utf8'))];
}

async function main(): Promise<number> {
  const config = loadClientConnectConfig();
  const connection = await Connection.connect({
    ...config.connectionOptions,
    address: config.connectionOptions.address ?? 'localhost:7233',
  });
  try {
    const client = new Client({
      connection,
      namespace: config.namespace ?? 'default',
      interceptors: { workflow: identityFromEnv() },
    });
    const taskQueue = process.env.CLOUDOPS_TASK_QUEUE ?? 'cloudops';

    const request: OperationRequest = {
      operation: 'example.echo',
      input: { message: 'hello from TypeScript', repeat: 2 },
      labels: { application: 'typescript-example' },
    };
    const echo = await runOperation<EchoOutput>(client, taskQueue, request);
    console.log(JSON.stringify(echo));

    // No "message", and "repeat" is not a number: the runner answers INVALID_INPUT at once,
    // naming each bad field in error.details.errors; nothing is retried, nothing hangs.
    const malformed = await runOperation<EchoOutput>(client, taskQueue, {
      operation: 'example.echo',
      input: { repeat: 'twice' },
    });
    console.log(JSON.stringify(malformed));

    return echo.ok && malformed.error?.code === 'INVALID_INPUT' ? 0 : 1;
  } finally {
    await connection.close();
  }
}

main().then(
  (status) => {
    process.exitCode = status;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 2;
  },
);
