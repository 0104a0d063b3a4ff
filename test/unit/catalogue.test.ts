import { describe, expect, it } from 'vitest';
import { loadCatalogue, CatalogueSchema } from '../../shared/catalogue/index.ts';

describe('crossing catalogue', () => {
  it('the shipped seeds validate and include the three main crossings', () => {
    const cat = loadCatalogue();
    for (const id of ['korday', 'zhibek-zholy', 'nur-zholy']) expect(cat.has(id)).toBe(true);
    expect(cat.get('korday')!.neighbourName.en).toBe('Ak-Zhol');
    expect(cat.queues().length).toBeGreaterThan(6);
  });

  it('rejects a direction that does not go between the crossing countries', () => {
    const cat = loadCatalogue();
    const bad = structuredClone(cat.crossings[0]!) as Record<string, unknown>;
    bad.directions = ['KZ-CN'];
    const res = CatalogueSchema.safeParse({ version: 1, crossings: [bad] });
    expect(res.success).toBe(false);
    expect(res.error!.issues.some((i) => i.path.join('.') === 'crossings.0.directions.0')).toBe(true);
  });
});
