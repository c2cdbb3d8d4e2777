// The dashboard shell: asks for the session, shows the login or the views for the role, and keeps the live stream
// open for operators.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, onSessionEnded } from './api.js';
import { Devices } from './devices.js';
import { setSpaceZone } from './format.js';
import { Income } from './income.js';
import { Invoices } from './invoices.js';
import { LiveContext, LiveStream } from './live.js';
import { LiveView } from './live-view.js';
import { Login } from './login.js';
import { MemberPage } from './member.js';
import { Members } from './members.js';
import { Payouts, ReimbursementForm } from './payouts.js';
import { Link, match, navigate, usePath } from './router.js';
import { Today } from './today.js';
import type { Session } from './types.js';

/** The space's name from its SpaceAPI document, for the title; "dctrl" until it answers. */
function useSpaceName(): string {
  const [name, setName] = useState('dctrl');
  useEffect(() => {
    fetch('/spaceapi.json')
      .then((response) => (response.ok ? (response.json() as Promise<{ space?: unknown }>) : {}))
      .then((document: { space?: unknown }) => {
        if (typeof document.space === 'string' && document.space) {
          setName(document.space);
          window.document.title = document.space;
        }
      })
      .catch(() => undefined);
  }, []);
  return name;
}

export function App() {
  // undefined while the first GET /session is on its way.
  const [session, setSessionState] = useState<Session | null | undefined>(undefined);
  const setSession = (next: Session | null) => {
    setSpaceZone(next?.timezone);
    setSessionState(next);
  };
  const [notice, setNotice] = useState<string | null>(null);
  const spaceName = useSpaceName();

  useEffect(() => {
    onSessionEnded(() => {
      setSession(null);
      setNotice('Your session has ended; please log in again.');
    });
    api<Session>('/session').then(setSession, () => setSession(null));
  }, []);

  if (session === undefined) return <p class="muted">Loading…</p>;
  if (session === null) return <Login spaceName={spaceName} notice={notice} onLogin={setSession} />;

  const logout = () => {
    api('/session', { method: 'DELETE' })
      .catch(() => undefined)
      .finally(() => {
        setNotice('You are logged out.');
        setSession(null);
        navigate('/');
      });
  };
  return <Shell session={session} spaceName={spaceName} onLogout={logout} />;
}

function Shell(props: { session: Session; spaceName: string; onLogout: () => void }) {
  const { session } = props;
  const staff = session.role !== 'member';
  const path = usePath();
  const live = useMemo(() => (staff ? new LiveStream() : null), [staff]);
  useEffect(() => {
    live?.start();
    return () => live?.stop();
  }, [live]);

  return (
    <LiveContext.Provider value={live}>
      <header class="top">
        <Link href="/" class="brand">
          {props.spaceName}
        </Link>
        <nav>
          {staff ? (
            <>
              <Link href="/">Overview</Link>
              <Link href="/members">Members</Link>
              <Link href="/invoices">Invoices</Link>
              <Link href="/payouts">Payouts</Link>
              <Link href="/live">Live</Link>
            </>
          ) : (
            <Link href="/">My membership</Link>
          )}
        </nav>
        <span class="who">
          <span class="muted small" data-testid="who">
            {session.name} ({session.role})
          </span>{' '}
          <button type="button" class="link" onClick={props.onLogout}>
            Log out
          </button>
        </span>
      </header>
      <main>
        {staff ? <StaffRoutes path={path} name={session.name} /> : <MemberRoutes path={path} memberId={session.memberId} />}
      </main>
    </LiveContext.Provider>
  );
}

function StaffRoutes(props: { path: string; name: string }) {
  const { path } = props;
  if (match('/', path)) {
    return (
      <div class="grid">
        <Today />
        <Devices />
        <Income />
        <LiveView limit={10} title="Latest events" />
      </div>
    );
  }
  if (match('/members', path)) return <Members />;
  const member = match('/members/:id', path);
  if (member) {
    return (
      <>
        <p>
          <Link href="/members">← All members</Link>
        </p>
        <MemberPage memberId={member.id!} self={false} />
      </>
    );
  }
  if (match('/invoices', path)) return <Invoices />;
  if (match('/payouts', path)) return <Payouts name={props.name} />;
  if (match('/live', path)) return <LiveView />;
  return <NotFound />;
}

function MemberRoutes(props: { path: string; memberId: string | null }) {
  if (props.memberId === null) {
    return <p class="error">This login is not linked to a member; ask an operator.</p>;
  }
  if (match('/', props.path)) {
    return (
      <>
        <MemberPage memberId={props.memberId} self />
        <ReimbursementForm memberId={props.memberId} />
      </>
    );
  }
  // Any other member's page is the Server's to refuse: the 403 it answers is shown as it is.
  const member = match('/members/:id', props.path);
  if (member) return <MemberPage memberId={member.id!} self={member.id === props.memberId} />;
  return <NotFound />;
}

function NotFound() {
  return (
    <p class="error">
      There is no page here. <Link href="/">Back to the start</Link>
    </p>
  );
}
