// The login form, for operators and members alike: the Server decides the role.
import { useState } from 'preact/hooks';
import { api, ApiError } from './api.js';
import type { Session } from './types.js';

function loginError(error: unknown): string {
  if (!(error instanceof ApiError)) return 'Login failed; try again.';
  if (error.status === 401) return 'Wrong name or password.';
  if (error.status === 429) {
    const wait = error.retryAfterSeconds ? ` in ${error.retryAfterSeconds} seconds` : ' later';
    return `Too many attempts. Try again${wait}.`;
  }
  return error.message;
}

export function Login(props: { spaceName: string; notice: string | null; onLogin: (session: Session) => void }) {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      props.onLogin(await api<Session>('/session', { method: 'POST', body: { name: name.trim(), password } }));
    } catch (failure) {
      setError(loginError(failure));
      setPassword('');
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="login">
      <form class="card" onSubmit={(event) => void submit(event)}>
        <h1>{props.spaceName}</h1>
        {props.notice && !error && <p class="notice">{props.notice}</p>}
        <label>
          Name
          <input
            name="name"
            autocomplete="username"
            autocapitalize="none"
            required
            value={name}
            onInput={(event) => setName(event.currentTarget.value)}
          />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autocomplete="current-password"
            required
            value={password}
            onInput={(event) => setPassword(event.currentTarget.value)}
          />
        </label>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
      </form>
    </main>
  );
}
