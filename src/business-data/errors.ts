// BusinessData error codes: what is wrong with a change to prices, tiers or policies.
import { errorClass } from '../core/errors.js';

export const BusinessDataErrorCodes = {
  BUSINESS_DATA_DATE_INVALID: 'An effective date must be a real calendar day written YYYY-MM-DD.',
  BUSINESS_DATA_UNKNOWN_POLICY: 'There is no policy by that name; the message lists the ones there are.',
  BUSINESS_DATA_VALUE_INVALID:
    'The value does not fit its tier, product or policy; the message names each field and what it expects.',
  BUSINESS_DATA_KEY_INVALID: 'Tier and product keys are lowercase letters, digits and "-", starting with a letter.',
  BUSINESS_DATA_NOT_ALLOWED: 'Only the clients in businessData.editors may change prices, tiers and policies.',
  BUSINESS_DATA_UNKNOWN: 'No tier or product with that key has ever been set.',
} as const;

export type BusinessDataErrorCode = keyof typeof BusinessDataErrorCodes;

export const BusinessDataError = errorClass('BusinessDataError', BusinessDataErrorCodes);
export type BusinessDataError = InstanceType<typeof BusinessDataError>;
