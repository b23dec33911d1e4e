import type { Features, Placement } from './tenant';
import type { Limits } from './limits';
import { validateLimits } from './limits';

/** Named defaults a tenant is created from; explicit values on create win. */
export interface TemplateSpec {
  name: string;
  limits: Limits;
  features: Features;
  placement?: Placement;
  retentionDays?: number;
}

export function checkTemplate(spec: TemplateSpec): TemplateSpec {
  return { ...spec, limits: validateLimits(spec.limits) };
}

/** Merges a template's defaults under the values given on create. */
export function applyTemplate<
  T extends { limits?: Limits; features?: Features; placement?: Placement; retentionDays?: number },
>(
  template: TemplateSpec | undefined,
  given: T,
): { limits: Limits; features: Features; placement?: Placement; retentionDays?: number } {
  return {
    limits: { ...template?.limits, ...given.limits },
    features: { ...template?.features, ...given.features },
    placement: given.placement ?? template?.placement,
    retentionDays: given.retentionDays ?? template?.retentionDays,
  };
}
