// The output drivers and the default way a device's configured outputs become drivers.
import type { ActuatorConfig } from '../core/config.js';
import type { Clock } from '../core/clock.js';
import type { OutputDriver } from './driver.js';
import { GpioDriver } from './gpio-driver.js';
import { ScriptDriver } from './script-driver.js';
import { SimulatedDriver, type PulseRecord } from './simulated-driver.js';

export type { DriverKind, OutputDriver, PulseRequest } from './driver.js';
export {
  GpioDriver,
  gpiosetInactiveArgs,
  gpiosetMajor,
  gpiosetPulseArgs,
  type GpioDriverOptions,
  type GpiosetMajor,
} from './gpio-driver.js';
export { ScriptDriver, scriptArgs, type ScriptDriverOptions } from './script-driver.js';
export { SimulatedDriver, type PulseRecord, type SimulatedDriverOptions } from './simulated-driver.js';

/** The driver an output's config names: gpio through gpioset, a script, or simulated (real time, recorded). */
export function createOutputDriver(
  device: string,
  actuator: ActuatorConfig,
  options: { clock: Clock; onSimulatedPulse?: (record: PulseRecord) => void },
): OutputDriver {
  switch (actuator.driver) {
    case 'gpio':
      return new GpioDriver(actuator);
    case 'script':
      return new ScriptDriver(device, actuator);
    case 'simulated':
      return new SimulatedDriver({
        clock: options.clock,
        ...(options.onSimulatedPulse ? { onPulse: options.onSimulatedPulse } : {}),
      });
  }
}
