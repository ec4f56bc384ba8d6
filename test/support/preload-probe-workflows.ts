/**
 * For test/integration/workflow-preload.test.ts: a workflow module that does keep state of its own
 * (a module-level counter), to show that a preloaded module is shared by the runs of one worker.
 */
let calls = 0;

/** How many runs of this module's workflow the module has seen, this one included. */
export async function preloadProbe(): Promise<number> {
  calls += 1;
  return calls;
}
