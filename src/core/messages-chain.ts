// The bus contract of the bitcoin side: the ChainNotifier's payments and invoices.
import type { MessageSpec } from './contract.js';

export const chainMessages: readonly MessageSpec[] = [];
