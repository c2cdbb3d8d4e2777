// The version of this build, as every client reports it in its heartbeat.
export const VERSION = '0.1.0';
