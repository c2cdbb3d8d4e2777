// Entry point of the browser bundle (scripts/build-ui.mjs → dist/public/app.js).
import { render } from 'preact';
import { App } from './app.js';

render(<App />, document.getElementById('app')!);
