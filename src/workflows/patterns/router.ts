/**
 * Router: a classifier agent picks one of named routes with structured output, and that route
 * handles the input. What the classifier does not place (it says `other`) goes to the default
 * route. A reply that names no known route is asked for again with what is wrong (the
 * classifier's `outputRepairs`, default 2), then fails the step with StructuredOutputError.
 */
import { enumOf, object, string } from './shape';
import { runAgent } from './agent';
import {
  callStructured,
  invalidSpec,
  nested,
  scopeOf,
  stepKey,
  tracked,
  type Agent,
  type AgentContext,
} from './context';

/**
 * A route: an agent, or your own workflow code (another pattern, say) with a description for the
 * classifier. Code routes get a context whose steps show under `routeName/` in progress.
 */
export type Route =
  Agent | { description?: string; run: (input: string, ctx: AgentContext) => Promise<string> };

/** What the classifier answers when no route fits. */
export const OTHER_ROUTE = 'other';

export interface RouterSpec {
  /** Picks the route. Its prompt may use `{{input}}` and `{{routes}}` (a `- name: description` list). */
  classifier: Agent;
  routes: Record<string, Route>;
  /** Handles anything no route fits. */
  default: Route;
}

export interface RouteResult {
  /** The route that ran: one of `routes`, or `default`. */
  route: string;
  /** What the classifier answered (may be `other`, or a name no route has). */
  classified: string;
  reason: string;
  output: string;
}

export const DEFAULT_CLASSIFY_PROMPT = [
  'Choose the route that should handle this request.',
  '',
  'Routes:',
  '{{routes}}',
  '',
  'Request:',
  '{{input}}',
].join('\n');

/** The classifier's structured answer for these route names (`other` for anything else). */
export function routeSchema(names: string[]) {
  return object({
    route: enumOf([...names, OTHER_ROUTE]).describe(`one route name, or '${OTHER_ROUTE}' when none fits`),
    reason: string().describe('one sentence: why this route'),
  });
}

/** A classifier reply's route if it names a known one (case and spacing forgiven), else undefined. */
export function matchRoute(answer: string, names: readonly string[]): string | undefined {
  const norm = (s: string) => s.trim().toLowerCase();
  return names.find((n) => norm(n) === norm(answer));
}

const isAgent = (r: Route): r is Agent => 'profile' in r;

/**
 * Classify `input`, then run the chosen route (or the default). The classifier shows in progress
 * under its name, an agent route under its own name.
 *
 * @example
 * const res = await route(ctx, {
 *   classifier: { name: 'triage', profile },
 *   routes: { billing: billingAgent, technical: { description: 'bugs and errors', run: (q, c) => fixIt(c, q) } },
 *   default: generalAgent,
 * }, message);
 */
export async function route(ctx: AgentContext, spec: RouterSpec, input: string): Promise<RouteResult> {
  const names = Object.keys(spec.routes);
  if (names.length === 0) throw invalidSpec('route: give at least one route');
  const list = names
    .map((n) => {
      const r = spec.routes[n]!;
      return `- ${n}: ${r.description ?? (isAgent(r) ? `agent '${r.name}'` : 'no description')}`;
    })
    .join('\n');
  const schema = routeSchema(names);
  const key = stepKey(ctx, spec.classifier.name);
  let classified = OTHER_ROUTE;
  let reason = '';
  await tracked(ctx, key, async () => {
    const { res, parsed } = await callStructured(
      ctx,
      spec.classifier,
      scopeOf(input, { routes: list }),
      schema,
      {
        key,
        role: 'classifier',
        formatName: 'route',
        defaultPrompt: DEFAULT_CLASSIFY_PROMPT,
      },
    );
    if (parsed.ok) {
      classified = parsed.value.route;
      reason = parsed.value.reason;
    } else {
      // Only in runs recorded before replies were repaired (new runs never get here):
      // a reply outside the schema still counts when it plainly names a route.
      const loose = res.text.replace(/^["'\s]+|["'\s.]+$/g, '');
      classified = loose || OTHER_ROUTE;
      reason = `classifier reply was not a valid choice: ${parsed.error}`;
    }
    return res.text;
  });

  const chosen = matchRoute(classified, names);
  const name = chosen ?? 'default';
  const handler = chosen ? spec.routes[chosen]! : spec.default;
  const output = isAgent(handler)
    ? await runAgent(ctx, handler, input, { role: 'route' })
    : await tracked(ctx, stepKey(ctx, name), () => handler.run(input, nested(ctx, name)));
  return { route: name, classified, reason, output };
}
