// BusinessMgr error codes: why a door or vend decision, an allow-list or an offline upload could not be made.
import { errorClass } from '../core/errors.js';

export const BusinessMgrErrorCodes = {
  BUSINESS_MGR_NOT_A_DOOR:
    'An offline log came from a client that is not a door in machines.devices, or names another device than its sender; only a door uploads its own log.',
  BUSINESS_MGR_NOT_READY:
    'The member, balance and policy cache is not loaded yet (MemberData, the Reporter or BusinessData did not answer): taps go unanswered, so doors decide from their allow-lists and vending waits; start those services.',
  BUSINESS_MGR_UPSTREAM_UNAVAILABLE:
    'MemberData, the Reporter, BusinessData or the ChainNotifier did not answer; BusinessMgr keeps its last cache and tries again.',
  BUSINESS_MGR_ALLOW_LIST_TOO_BIG:
    'A door’s allow-list does not fit in bus.maxMessageBytes (the message names the entry count); the previous list stays. Raise bus.maxMessageBytes or narrow the door’s groups.',
  BUSINESS_MGR_PRODUCT_UNKNOWN:
    'A paid invoice names a product BusinessData does not have, or whose machine is not a vending device in machines.devices; nothing was vended: refund it or fix the product.',
  BUSINESS_MGR_REFUND_FAILED:
    'A vend failed after the member was charged and the refund could not be recorded; BusinessMgr retries on the next failure report, or record an adjustment by hand.',
  BUSINESS_MGR_DECISION_NOT_STORED:
    'A decision was acted on but could not be written to the database; the device acted, the record is missing: check the database.',
} as const;

export const BusinessMgrError = errorClass('BusinessMgrError', BusinessMgrErrorCodes);
export type BusinessMgrError = InstanceType<typeof BusinessMgrError>;
