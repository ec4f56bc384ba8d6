/**
 * A structural check of a resolved definition (the JSON a run takes as input), for definitions
 * that did not come through the YAML loader: built in code, sent over HTTP, or edited for a retry.
 * Anything it lets through must not be able to crash the run's workflow code.
 */
import type { EnsembleDefinition } from '../types';

const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string';

function checkSteps(
  steps: unknown,
  where: string,
  outer: Set<string>,
  problems: string[],
  inLoop: boolean,
): void {
  if (!Array.isArray(steps) || steps.length === 0) {
    problems.push(`${where} must be a non-empty list of steps`);
    return;
  }
  const names = new Set<string>();
  for (const [i, s] of steps.entries()) {
    const at = `${where}[${i}]`;
    if (!isObj(s)) {
      problems.push(`${at} must be an object`);
      continue;
    }
    if (!isStr(s.name) || s.name === '') problems.push(`${at}.name must be a non-empty string`);
    else if (names.has(s.name)) problems.push(`${at}.name '${s.name}' is used twice`);
    else names.add(s.name);
  }
  for (const [i, s] of steps.entries()) {
    if (!isObj(s)) continue;
    const at = `${where}[${i}] ('${String(s.name)}')`;
    if (!Array.isArray(s.dependsOn) || !s.dependsOn.every(isStr))
      problems.push(`${at}.dependsOn must be a list of step names`);
    else
      for (const d of s.dependsOn)
        if (!names.has(d) && !outer.has(d)) problems.push(`${at} depends on unknown step '${d}'`);
    switch (s.kind) {
      case 'agent': {
        const p = s.profile;
        if (!isObj(p) || !isStr(p.provider) || !isStr(p.model) || !isStr(p.name))
          problems.push(`${at}.profile must be a resolved model profile { name, provider, model }`);
        else if (isStr(p.baseURL) && /\/\/[^/]*@|\?/.test(p.baseURL))
          problems.push(
            `${at}.profile.baseURL must not carry credentials or a query; keys live in the worker's environment`,
          );
        if (!isStr(s.prompt)) problems.push(`${at}.prompt must be a string`);
        if (s.fanOut !== undefined && (!isObj(s.fanOut) || !isStr(s.fanOut.from)))
          problems.push(`${at}.fanOut must be { from: <step> }`);
        if (
          s.outputRepairs !== undefined &&
          !(typeof s.outputRepairs === 'number' && Number.isInteger(s.outputRepairs) && s.outputRepairs >= 0)
        )
          problems.push(`${at}.outputRepairs must be a whole number, 0 or more`);
        break;
      }
      case 'approval':
        if (!isStr(s.deadline) && typeof s.deadline !== 'number')
          problems.push(`${at}.deadline must be a duration`);
        if (!['reject', 'approve', 'escalate'].includes(String(s.onTimeout)))
          problems.push(`${at}.onTimeout must be reject, approve or escalate`);
        break;
      case 'loop':
        if (inLoop) problems.push(`${at}: a loop cannot hold another loop`);
        if (typeof s.maxIterations !== 'number' || !(s.maxIterations >= 1))
          problems.push(`${at}.maxIterations must be at least 1`);
        if (!isObj(s.until) || !isStr(s.until.ref))
          problems.push(`${at}.until must be a condition { ref, op }`);
        checkSteps(s.body, `${at}.body`, new Set([...outer, ...names]), problems, true);
        break;
      default:
        problems.push(`${at}.kind must be agent, approval or loop`);
    }
  }
}

/**
 * Problems that would stop a definition from running, each naming where; empty when it can run.
 *
 * @example checkDefinition({ name: 'x', steps: [] }) // ['steps must be a non-empty list of steps']
 */
export function checkDefinition(def: unknown): string[] {
  const problems: string[] = [];
  if (!isObj(def)) return ['the definition must be an object { name, steps }'];
  if (!isStr(def.name) || def.name === '') problems.push('name must be a non-empty string');
  checkSteps(def.steps, 'steps', new Set(), problems, false);
  const d = def as unknown as EnsembleDefinition;
  if (
    d.output !== undefined &&
    Array.isArray(d.steps) &&
    !d.steps.some((s) => isObj(s) && s.name === d.output)
  ) {
    problems.push(`output names unknown step '${String(d.output)}'`);
  }
  return problems;
}
