// The one interface every output driver implements: pulse a line (or run a script) for some milliseconds.

export type DriverKind = 'gpio' | 'script' | 'simulated';

export interface PulseRequest {
  /** How long the output is held active. */
  ms: number;
  action: 'open' | 'vend';
  output: string;
}

/**
 * Moves one output (or several, for a simulated driver shared by a test). A pulse resolves when the output is
 * inactive again and rejects with a MachineMgrError (its code goes into MachineActuation.error) when it failed.
 */
export interface OutputDriver {
  readonly kind: DriverKind;
  pulse(request: PulseRequest): Promise<void>;
  /** Aborts running pulses (their promises reject with MACHINE_MGR_PULSE_ABORTED), kills child processes, sets lines inactive. */
  close?(): Promise<void>;
}

/** The last part of a child's stderr, for an error message: enough to see why, never a whole log. */
export class StderrTail {
  #text = '';

  constructor(private readonly limit = 2_000) {}

  push(chunk: Buffer | string): void {
    this.#text = (this.#text + chunk.toString()).slice(-this.limit);
  }

  toString(): string {
    const text = this.#text.trim();
    return text.length > 500 ? `…${text.slice(-500)}` : text;
  }
}
