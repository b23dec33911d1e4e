/** `platform-admin` sees every account; the others are scoped to one account. */
export const ROLES = ['platform-admin', 'owner', 'admin', 'operator', 'viewer'] as const;
export type Role = (typeof ROLES)[number];
export const ACCOUNT_ROLES = ['owner', 'admin', 'operator', 'viewer'] as const;

/** Who may do what, by kind of action. */
export const CAN = {
  read: ['platform-admin', 'owner', 'admin', 'operator', 'viewer'],
  operate: ['platform-admin', 'owner', 'admin', 'operator'],
  administer: ['platform-admin', 'owner', 'admin'],
  platform: ['platform-admin'],
} as const satisfies Record<string, readonly Role[]>;
