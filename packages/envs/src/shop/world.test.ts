import { describe, expect, it } from 'vitest';
import { templateCount, USER_ACTS, USER_TEMPLATES } from './user-templates.js';
import { CATEGORIES, generateWorld, returnAllowed } from './world.js';

describe('generateWorld', () => {
  const world = generateWorld({ seed: 7 });

  it('has at least 500 items over 10+ categories with attributes, prices and stock', () => {
    expect(world.items.length).toBeGreaterThanOrEqual(500);
    expect(new Set(world.items.map((i) => i.category)).size).toBeGreaterThanOrEqual(10);
    for (const it of world.items) {
      const cat = CATEGORIES.find((c) => c.name === it.category)!;
      expect(Object.keys(it.attributes).sort()).toEqual(cat.attributes.map((a) => a.name).sort());
      expect(it.price).toBeGreaterThanOrEqual(cat.price[0] - 1);
      expect(it.price).toBeLessThanOrEqual(cat.price[1] + 1);
      expect(Number.isInteger(it.stock) && it.stock >= 0).toBe(true);
    }
    expect(world.items.some((i) => i.stock === 0)).toBe(true);
  });

  it('has orders in every status, returns both inside and outside the window, and coupons', () => {
    expect(new Set(world.orders.map((o) => o.status))).toEqual(
      new Set(['processing', 'shipped', 'delivered']),
    );
    const delivered = world.orders.filter((o) => o.status === 'delivered');
    expect(delivered.some((o) => returnAllowed(o, world.policies))).toBe(true);
    expect(delivered.some((o) => !returnAllowed(o, world.policies))).toBe(true);
    for (const o of world.orders) expect(o.lines.every((l) => world.itemsById.has(l.itemId))).toBe(true);
    expect(world.policies.coupons.length).toBeGreaterThan(3);
  });

  it('is deterministic for a seed and differs across seeds', () => {
    expect(JSON.stringify(generateWorld({ seed: 7 }).items)).toBe(JSON.stringify(world.items));
    expect(JSON.stringify(generateWorld({ seed: 8 }).items)).not.toBe(JSON.stringify(world.items));
  });
});

describe('user surface forms', () => {
  it('has hundreds of templates, several per act, none repeated', () => {
    expect(templateCount()).toBeGreaterThanOrEqual(300);
    for (const act of USER_ACTS) {
      expect(USER_TEMPLATES[act].length).toBeGreaterThanOrEqual(6);
      expect(new Set(USER_TEMPLATES[act]).size).toBe(USER_TEMPLATES[act].length);
    }
  });
});
