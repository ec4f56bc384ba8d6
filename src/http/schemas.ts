/**
 * The HTTP API's request schemas (zod), shared by validation and the OpenAPI document, so what
 * the API checks and what it documents cannot drift apart. Definitions and options reuse the
 * schema every run is checked with (src/config/definition-schema.ts).
 */
import { z } from 'zod';
import {
  definitionSchema,
  modelProfileSchema,
  runIdSchema,
  runOptionsSchema,
} from '../config/definition-schema';

/** Largest ensemble YAML text accepted in a request (the whole body is limited separately). */
const MAX_YAML = 1024 * 1024;

const yamlText = z.string().min(1, { message: 'the ensemble YAML text is empty' }).max(MAX_YAML);

/** A run id in a path: any existing run's id (Temporal's limit is 1,000 characters), no control characters. */
export const runIdParam = z
  .string()
  .min(1)
  .max(1000, { message: 'a run id holds at most 1000 characters' })
  .regex(/^\P{Cc}+$/u, { message: 'a run id holds no control characters' });

export const stepParam = z
  .string()
  .min(1)
  .max(200, { message: 'a step name holds at most 200 characters' })
  .regex(/^\P{Cc}+$/u, { message: 'a step name holds no control characters' });

export const runParams = z.object({ id: runIdParam });
export const stepParams = z.object({ id: runIdParam, step: stepParam });

export const listQuery = z
  .object({
    limit: z
      .string()
      .regex(/^[1-9]\d{0,3}$/, { message: "query 'limit' must be a positive whole number (at most 1000)" })
      .refine((v) => Number(v) <= 1000, { message: "query 'limit' must be at most 1000" })
      .optional(),
  })
  .strict();

/** GET /runs/{id}/events */
export const eventsQuery = z
  .object({
    after: z
      .string()
      .max(300, { message: "query 'after' is an event id (at most 300 characters)" })
      .optional()
      .describe('Resume after this event id (what Last-Event-ID does; the header wins when both are sent).'),
  })
  .strict();

/** POST /runs */
export const startBody = z
  .strictObject({
    ensemble: yamlText.optional().describe('The ensemble as YAML text (validated like `baton validate`).'),
    definition: definitionSchema.optional().describe('A resolved definition (the JSON a run carries).'),
    input: z
      .string()
      .max(4 * 1024 * 1024)
      .optional()
      .describe("The run's input (default: empty)."),
    runId: runIdSchema
      .optional()
      .describe('Your id for the run; starting again with it returns the existing run.'),
    options: runOptionsSchema.optional(),
  })
  .superRefine((b, ctx) => {
    if ((b.ensemble === undefined) === (b.definition === undefined))
      ctx.addIssue({
        code: 'custom',
        path: ['ensemble'],
        message: "give the ensemble as YAML text in 'ensemble', or resolved in 'definition' (exactly one)",
      });
  });

/** POST /runs/{id}/retry */
export const retryBody = z
  .strictObject({
    runId: runIdSchema.optional(),
    ensemble: yamlText.optional().describe('A corrected ensemble (YAML text); steps are matched by name.'),
    definition: definitionSchema.optional().describe('A corrected resolved definition.'),
    options: runOptionsSchema.optional(),
  })
  .superRefine((b, ctx) => {
    if (b.ensemble !== undefined && b.definition !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['definition'],
        message: "give 'ensemble' or 'definition', not both",
      });
  });

/** POST /runs/{id}/fork */
export const forkBody = z.strictObject({
  fromStep: stepParam.describe('The step to run again; steps not downstream of it are reused.'),
  input: z
    .string()
    .max(4 * 1024 * 1024)
    .optional(),
  overrides: z
    .strictObject({
      prompt: z.string().optional(),
      system: z.string().optional(),
      profile: z.union([z.string().min(1).max(200), modelProfileSchema]).optional(),
    })
    .optional(),
  runId: runIdSchema.optional(),
  options: runOptionsSchema.optional(),
});

/** POST /runs/{id}/decisions. Who decides is the authenticated principal; a `by` in the body is ignored. */
export const decisionBody = z.strictObject({
  gate: z.string().min(1).max(200).optional(),
  outcome: z.enum(['approved', 'rejected', 'approve', 'reject'], {
    error: "expected 'approved' or 'rejected'",
  }),
  comment: z.string().max(10_000).optional(),
  editedDraft: z.string().optional(),
  editedArguments: z.record(z.string(), z.unknown()).optional(),
  digest: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe('Digest of the draft or tool arguments that were shown.'),
  budget: z
    .looseObject({
      maxCostUsd: z.number().positive().finite().optional(),
      maxTokens: z.number().int().positive().optional(),
    })
    .optional()
    .describe('At a budget gate: the raised budget.'),
  by: z.string().optional().describe('Ignored: the decision is recorded by the authenticated principal.'),
});

/** Temporal's codec-server JSON: `{ payloads: [{ metadata: { key: base64 }, data: base64 }] }`. */
export const codecBody = z.looseObject({
  payloads: z.array(
    z.looseObject({
      metadata: z.record(z.string(), z.string()).optional(),
      data: z.string().optional(),
    }),
  ),
});

export const errorBody = z.object({
  error: z.string(),
  issues: z.array(z.object({ path: z.string(), message: z.string() }).loose()).optional(),
});

/** Some JSON object (answers documented in docs/http-api.md). */
export const anyObject = z.record(z.string(), z.unknown());
