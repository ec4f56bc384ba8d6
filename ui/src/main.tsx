import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, onUnauthorized, saveKey, savedKey } from './api';
import { ApprovalsPage } from './approvals';
import { RunPage } from './run';
import { RunsPage } from './runs';
import './style.css';

/** Hash routes: #/ (runs), #/runs/<id>, #/approvals. */
function useRoute(): string {
  const [hash, setHash] = useState(location.hash.slice(1) || '/');
  useEffect(() => {
    const on = () => setHash(location.hash.slice(1) || '/');
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function SignIn(props: { onKey: (key: string) => void; error?: string }) {
  const [key, setKey] = useState('');
  return (
    <form
      class="card signin"
      onSubmit={(e) => {
        e.preventDefault();
        if (key.trim()) props.onKey(key.trim());
      }}
    >
      <h1>Sign in</h1>
      <p>
        This Baton API needs a key. Paste yours (from <code>baton api keygen</code>); it is kept in this tab
        only and sent as <code>Authorization: Bearer</code>.
      </p>
      {props.error && <p class="error">{props.error}</p>}
      <label>
        API key
        <input
          type="password"
          name="key"
          autocomplete="off"
          value={key}
          onInput={(e) => setKey(e.currentTarget.value)}
          autofocus
        />
      </label>
      <button type="submit" class="primary">
        Sign in
      </button>
    </form>
  );
}

function App() {
  const route = useRoute();
  const [needKey, setNeedKey] = useState(false);
  const [signInError, setSignInError] = useState<string>();
  const [session, setSession] = useState(0);
  useEffect(() => onUnauthorized(() => setNeedKey(true)), []);

  const signIn = async (key: string) => {
    saveKey(key);
    try {
      await api('GET', '/runs?limit=1');
      setNeedKey(false);
      setSignInError(undefined);
      setSession((s) => s + 1);
    } catch (e) {
      saveKey(undefined);
      setNeedKey(true);
      setSignInError(
        e instanceof ApiError && e.status === 401 ? 'That key was refused.' : (e as Error).message,
      );
    }
  };

  const runMatch = /^\/runs\/(.+)$/.exec(route);
  let page;
  if (needKey) page = <SignIn onKey={(k) => void signIn(k)} error={signInError} />;
  else if (runMatch)
    page = <RunPage key={`${session}:${runMatch[1]}`} runId={decodeURIComponent(runMatch[1]!)} />;
  else if (route === '/approvals') page = <ApprovalsPage key={session} />;
  else page = <RunsPage key={session} />;

  return (
    <>
      <header class="top">
        <a href="#/" class="brand">
          Baton
        </a>
        <nav>
          <a href="#/" class={route === '/' ? 'active' : ''}>
            Runs
          </a>
          <a href="#/approvals" class={route === '/approvals' ? 'active' : ''}>
            Approvals
          </a>
        </nav>
        {savedKey() && !needKey && (
          <button
            class="link"
            onClick={() => {
              saveKey(undefined);
              setNeedKey(true);
            }}
          >
            Sign out
          </button>
        )}
      </header>
      <main>{page}</main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
