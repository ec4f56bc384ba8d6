/**
 * Bare Temporal SDK code doing the same work as Baton's runs, for side-by-side benchmarks:
 * the same model calls through the same SDK, with nothing of Baton's around them.
 */
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type * as activities from './activities';

const { bareCall } = proxyActivities<typeof activities>({
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: '30 seconds',
  retry: { maximumAttempts: 5 },
});

/** N sequential calls, each fed the previous answer. */
export async function bareChain(steps: number, input: string): Promise<string> {
  let text = input;
  for (let i = 0; i < steps; i++) text = await bareCall(`step ${i}: ${text.slice(0, 200)}`);
  return text;
}

/** N calls at once, then one join call. */
export async function bareFanOut(width: number, input: string): Promise<string> {
  const outs = await Promise.all(Array.from({ length: width }, (_, i) => bareCall(`branch ${i}: ${input}`)));
  return outs.length.toString();
}

const local = proxyLocalActivities<typeof activities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5 },
});

/** bareChain with local activities. */
export async function bareChainLocal(steps: number, input: string): Promise<string> {
  let text = input;
  for (let i = 0; i < steps; i++) text = await local.bareCall(`step ${i}: ${text.slice(0, 200)}`);
  return text;
}

/** bareFanOut with local activities. */
export async function bareFanOutLocal(width: number, input: string): Promise<string> {
  const outs = await Promise.all(
    Array.from({ length: width }, (_, i) => local.bareCall(`branch ${i}: ${input}`)),
  );
  return outs.length.toString();
}
