/**
 * Names of the failures a model call can end in. Pure constants, shared by activities (which
 * throw them) and workflows (whose retry policies list the non-retryable ones).
 */
export const ModelErrorType = {
  /** The key is missing, wrong or lacks permission. */
  Auth: 'ModelAuthError',
  /** The account is out of quota, credit or over its spend limit. */
  Quota: 'ModelQuotaError',
  /** The request itself is wrong: unknown model, invalid parameters, too large. */
  BadRequest: 'ModelBadRequest',
  /** The worker is not set up for this provider (no key in its environment). */
  Config: 'ModelConfigError',
  /** The run names an endpoint, or a key for an endpoint, that the worker's operator did not allow. */
  EndpointNotAllowed: 'EndpointNotAllowed',
  /** Too many requests right now; retried after the provider's Retry-After. */
  RateLimited: 'ModelRateLimited',
  /** The provider failed or is overloaded (5xx, 529); retried. */
  ServerError: 'ModelServerError',
  /** The request timed out or the connection broke; retried. */
  Transient: 'ModelTransientError',
} as const;

/** Failure types that no retry can fix; retry policies stop at once on them. */
export const NON_RETRYABLE_MODEL_ERRORS: string[] = [
  ModelErrorType.Auth,
  ModelErrorType.Quota,
  ModelErrorType.BadRequest,
  ModelErrorType.Config,
  ModelErrorType.EndpointNotAllowed,
];

/**
 * A step whose model never gave a reply that matches its output schema, after its repairs.
 * Non-retryable: the replies were refused on their content, and retrying the step as it is would
 * pay for the same mistakes again.
 */
export const STRUCTURED_OUTPUT_ERROR = 'StructuredOutputError';
