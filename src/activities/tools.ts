/**
 * Tools agents may call. Tools are registered on the worker (with zod input schemas); each call
 * runs as its own activity. (Filled in by the patterns work; this is the wiring point.)
 */
import type { z } from 'zod';

/** A tool as registered on the worker. */
export interface ToolDefinition<I = any> {
  name: string;
  description: string;
  input: z.ZodType<I>;
  /** A person must approve each call before it runs. */
  requiresApproval?: boolean;
  run(input: I, ctx: { signal: AbortSignal }): Promise<unknown>;
}

/** The tool activities for a worker's registered tools. */
export function createToolActivities(_tools: ToolDefinition[] = []) {
  return {};
}
