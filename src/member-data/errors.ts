// MemberData error codes: what is wrong with a member fact someone tried to record.
import { errorClass } from '../core/errors.js';

export const MemberDataErrorCodes = {
  MEMBER_DATA_NOT_FOUND: 'No member has that id.',
  MEMBER_DATA_EMAIL_INVALID: 'An email address must look like name@example.org.',
  MEMBER_DATA_EMAIL_TAKEN: 'Another current member already uses that email address.',
  MEMBER_DATA_FOB_TAKEN: 'That fob is already issued to a member; revoke it there first.',
  MEMBER_DATA_FOB_UNKNOWN: 'This member holds no active fob ending in those digits.',
  MEMBER_DATA_STATE_INVALID:
    'The change does not fit the member as they are (leaving twice, rejoining while a member, adding a group they are already in).',
  MEMBER_DATA_TIER_UNKNOWN: 'The tier is not an active dues tier in BusinessData today; the message lists the known ones.',
  MEMBER_DATA_TIERS_UNAVAILABLE:
    'BusinessData did not answer, so the tier could not be checked and nothing was recorded; is business-data running?',
  MEMBER_DATA_NOT_ALLOWED: 'Only the clients in memberData.editors may record member facts.',
  MEMBER_DATA_VALUE_INVALID: 'A field is missing or malformed; the message names it.',
} as const;

export type MemberDataErrorCode = keyof typeof MemberDataErrorCodes;

export const MemberDataError = errorClass('MemberDataError', MemberDataErrorCodes);
export type MemberDataError = InstanceType<typeof MemberDataError>;
