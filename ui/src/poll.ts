import { useEffect, useRef } from 'preact/hooks';

/** Run `fn` now and every `ms` while the component is shown (never two at once). */
export function usePoll(fn: () => Promise<void>, ms: number, deps: unknown[] = []): void {
  const current = useRef(fn);
  current.current = fn;
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      await current.current();
      if (!stopped) timer = setTimeout(() => void tick(), ms);
    };
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, deps);
}
