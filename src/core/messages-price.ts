// The bus contract of the PriceNotifier: exchange rates, quoted or refused.
import type { MessageSpec } from './contract.js';

export const priceMessages: readonly MessageSpec[] = [];
