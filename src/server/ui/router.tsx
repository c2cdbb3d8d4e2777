// A router of a few paths on the History API: the Server answers index.html for every path outside /api.
import { type ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';

const listeners = new Set<() => void>();

export function navigate(href: string): void {
  history.pushState(null, '', href);
  for (const listener of listeners) listener();
  window.scrollTo(0, 0);
}

/** The current path, re-rendering on navigation and on the browser's back and forward buttons. */
export function usePath(): string {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const update = () => setPath(location.pathname);
    listeners.add(update);
    window.addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      window.removeEventListener('popstate', update);
    };
  }, []);
  return path;
}

/** `/members/:id` against "/members/M1" → { id: 'M1' }; undefined when the path does not match. */
export function match(pattern: string, path: string): Record<string, string> | undefined {
  const want = pattern.split('/');
  const have = path.replace(/\/+$/, '').split('/');
  if (path === '/' && pattern === '/') return {};
  if (want.length !== have.length) return undefined;
  const parameters: Record<string, string> = {};
  for (const [index, part] of want.entries()) {
    const actual = have[index]!;
    if (part.startsWith(':')) {
      if (!actual) return undefined;
      parameters[part.slice(1)] = decodeURIComponent(actual);
    } else if (part !== actual) return undefined;
  }
  return parameters;
}

/** A link that changes the view without reloading the page; a click with a modifier key still opens a new tab. */
export function Link(props: { href: string; class?: string; children: ComponentChildren }) {
  const follow = (event: MouseEvent) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(props.href);
  };
  return (
    <a
      href={props.href}
      class={props.class}
      aria-current={location.pathname === props.href ? 'page' : undefined}
      onClick={follow}
    >
      {props.children}
    </a>
  );
}
