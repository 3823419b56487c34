import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveDataDir } from '@gopo/core';
import { testCliContext } from '@gopo/core/testing';
import type { ToolAgentStep } from '@gopo/dialogue';
import { beforeAll, describe, expect, it } from 'vitest';
import { evalToolPolicies, taubenchReplayCommand } from '../src/commands.js';
import { runPolicyTrials, summarizePolicy } from '../src/eval-policy.js';
import { retailPolicies } from '../src/taubench/agents.js';
import {
  type KeyOrder,
  loadRetailData,
  loadRetailTasks,
  type RetailData,
  RetailDataError,
  type RetailTask,
  retailTaskFile,
} from '../src/taubench/data.js';
import { canonicalJson, RetailDb } from '../src/taubench/db.js';
import { RetailEnv } from '../src/taubench/env.js';
import { replayGoldActions, retailReward } from '../src/taubench/reward.js';
import { retailSop } from '../src/taubench/sop.js';
import { executeRetailCall, RETAIL_TOOL_NAMES } from '../src/taubench/tools.js';
import { runToolEpisode, ToolEpisodeSchema } from '../src/tool-env.js';

const dataDir = resolveDataDir();

describe.skipIf(!dataDir)('tau-bench retail (data/taubench_retail)', () => {
  let data: RetailData;
  let keyOrder: KeyOrder;
  let splits: Record<'train' | 'dev', RetailTask[]>;
  beforeAll(async () => {
    ({ data, keyOrder } = await loadRetailData(dataDir!));
    splits = {
      train: await loadRetailTasks(retailTaskFile(dataDir!, 'train')),
      dev: await loadRetailTasks(retailTaskFile(dataDir!, 'dev')),
    };
  });
  const fresh = () => new RetailDb(data, keyOrder);
  const call = (db: RetailDb, name: string, args: Record<string, unknown> = {}) =>
    executeRetailCall(db, { name, arguments: args });
  const json = (text: string) =>
    JSON.parse(text) as Record<string, unknown> & { payment_history: Record<string, unknown>[] };

  describe('gold-action replay', () => {
    it('every gold action runs as upstream: all succeed but 20 train actions refused for gift-card balance', () => {
      const failures: string[] = [];
      let actions = 0;
      for (const split of ['train', 'dev'] as const)
        for (const task of splits[split])
          replayGoldActions(data, task, keyOrder, (out) => {
            actions++;
            if (out.startsWith('Error')) failures.push(out);
          });
      expect(actions).toBe(793);
      // The same 20 calls fail in upstream's Python tools (checked by running them).
      expect(failures).toHaveLength(20);
      expect(new Set(failures.map((f) => f.replace(/ to pay for .*/, '')))).toEqual(
        new Set(['Error: insufficient gift card balance']),
      );
    });

    it('scores 1.0 on every train and dev task when the oracle carries out the gold actions in the environment', async () => {
      const env = new RetailEnv(data, keyOrder);
      for (const split of ['train', 'dev'] as const) {
        const episodes = await runPolicyTrials(
          env,
          splits[split].map((t, i) => ({ id: `${split}-${i}`, item: t })),
          retailPolicies().get('oracle'),
          { trials: 1, seed: 1 },
        );
        expect(episodes.filter((e) => e.reward !== 1).map((e) => e.id)).toEqual([]);
        expect(episodes.every((e) => e.sopViolations === 0 && e.endReason === 'done')).toBe(true);
      }
    });

    it('the reward tells: doing nothing scores 0 wherever the gold actions change the database', () => {
      let changed = 0;
      for (const task of [...splits.train, ...splits.dev]) {
        const nothing = retailReward(fresh(), task, []);
        const gold = replayGoldActions(data, task, keyOrder);
        expect(retailReward(gold, task, []).reward).toBe(1);
        if (nothing.goldHash !== fresh().hash()) {
          changed++;
          expect(nothing.reward).toBe(0);
        }
      }
      expect(changed).toBe(514);
    });
  });

  describe('the 16 tools (golden cases; every output also matched upstream byte for byte)', () => {
    it('lists its 16 tools', () => {
      expect(RETAIL_TOOL_NAMES).toHaveLength(16);
    });

    it('find_user_id_by_email / find_user_id_by_name_zip: case-insensitive match, else an error', () => {
      const db = fresh();
      expect(call(db, 'find_user_id_by_email', { email: 'Noah.Brown7922@example.com' })).toBe(
        'noah_brown_6181',
      );
      expect(call(db, 'find_user_id_by_email', { email: 'nobody@example.com' })).toBe(
        'Error: user not found',
      );
      expect(
        call(db, 'find_user_id_by_name_zip', { first_name: 'noah', last_name: 'BROWN', zip: '80279' }),
      ).toBe('noah_brown_6181');
      expect(
        call(db, 'find_user_id_by_name_zip', { first_name: 'Noah', last_name: 'Brown', zip: '80278' }),
      ).toBe('Error: user not found');
    });

    it('get_user_details / get_order_details / get_product_details print json.dumps of the record', () => {
      const db = fresh();
      expect(call(db, 'get_user_details', { user_id: 'noah_brown_6181' })).toMatch(
        /^\{"name": \{"first_name": "Noah", "last_name": "Brown"\}, "address": \{"address1": "986 Sunset Drive", /,
      );
      expect(call(db, 'get_user_details', { user_id: 'nobody' })).toBe('Error: user not found');
      expect(call(db, 'get_order_details', { order_id: '#W2611340' })).toMatch(/"price": 47\.84, /);
      expect(call(db, 'get_order_details', { order_id: 'W2611340' })).toBe('Error: order not found');
      // Variants in the file's order (JavaScript would sort these integer-like keys), prices as floats.
      expect(call(db, 'get_product_details', { product_id: '9523456873' })).toMatch(
        /^\{"name": "T-Shirt", "product_id": "9523456873", "variants": \{"9612497925": \{"item_id": "9612497925", /,
      );
      expect(call(db, 'get_product_details', { product_id: 'constructor' })).toBe('Error: product not found');
    });

    it('list_all_product_types: name -> product id, sorted by name', () => {
      const types = JSON.parse(call(fresh(), 'list_all_product_types')) as Record<string, string>;
      expect(Object.keys(types)).toHaveLength(50);
      expect(Object.keys(types).slice(0, 3)).toEqual(['Action Camera', 'Air Purifier', 'Backpack']);
      expect(types['T-Shirt']).toBe('9523456873');
    });

    it('cancel_pending_order: refunds every payment, gift cards at once (rounded), then only errors', () => {
      const db = fresh();
      expect(call(db, 'cancel_pending_order', { order_id: '#W6779827', reason: 'bored' })).toBe(
        'Error: invalid reason',
      );
      const o = json(call(db, 'cancel_pending_order', { order_id: '#W6779827', reason: 'no longer needed' }));
      expect(o.status).toBe('cancelled');
      expect(o.cancel_reason).toBe('no longer needed');
      expect(o.payment_history.at(-1)).toEqual({
        transaction_type: 'refund',
        amount: 4079.45,
        payment_method_id: 'gift_card_7219486',
      });
      expect(db.user('ethan_lopez_6291')!.payment_methods.gift_card_7219486!.balance).toBe(4128.45);
      expect(call(db, 'cancel_pending_order', { order_id: '#W6779827', reason: 'no longer needed' })).toBe(
        'Error: non-pending order cannot be cancelled',
      );
      expect(data.orders['#W6779827']!.status).toBe('pending'); // the shared base is untouched
    });

    it('argument errors are Python TypeErrors; unknown tools are unknown actions', () => {
      const db = fresh();
      expect(call(db, 'cancel_pending_order', { order_id: '#W6779827' })).toBe(
        "Error: CancelPendingOrder.invoke() missing 1 required positional argument: 'reason'",
      );
      expect(call(db, 'modify_user_address', { user_id: 'x' })).toBe(
        "Error: ModifyUserAddress.invoke() missing 6 required positional arguments: 'address1', 'address2', 'city', 'state', 'country', and 'zip'",
      );
      expect(call(db, 'think', { thought: 'a', mood: 'b' })).toBe(
        "Error: Think.invoke() got an unexpected keyword argument 'mood'",
      );
      expect(call(db, 'fly_to_moon')).toBe('Unknown action fly_to_moon');
    });

    it('modify_pending_order_items: the unrounded difference is charged to the gift card, items take the new variant', () => {
      const db = fresh();
      const args = {
        order_id: '#W6779827',
        item_ids: ['7896397433'],
        new_item_ids: ['4422467033'],
        payment_method_id: 'gift_card_7219486',
      };
      const o = json(call(db, 'modify_pending_order_items', args));
      expect(o.status).toBe('pending (item modified)');
      expect(o.payment_history.at(-1)).toEqual({
        transaction_type: 'payment',
        amount: 25.660000000000025,
        payment_method_id: 'gift_card_7219486',
      });
      expect((o.items as Record<string, unknown>[])[0]).toMatchObject({
        item_id: '4422467033',
        price: 483.47,
      });
      expect(db.user('ethan_lopez_6291')!.payment_methods.gift_card_7219486!.balance).toBe(23.34);
      expect(call(db, 'modify_pending_order_items', args)).toBe(
        'Error: non-pending order cannot be modified',
      );
      expect(call(fresh(), 'modify_pending_order_items', { ...args, new_item_ids: ['0000000000'] })).toBe(
        'Error: new item 0000000000 not found or available',
      );
      expect(
        call(fresh(), 'modify_pending_order_items', {
          ...args,
          item_ids: ['7896397433', '7896397433'],
          new_item_ids: ['4422467033', '4422467033'],
        }),
      ).toBe('Error: 7896397433 not found');
    });

    it('modify_pending_order_payment: pays with the new method, refunds the old one, once', () => {
      const db = fresh();
      const o = json(
        call(db, 'modify_pending_order_payment', {
          order_id: '#W1080318',
          payment_method_id: 'gift_card_3749819',
        }),
      );
      expect(o.payment_history).toEqual([
        { transaction_type: 'payment', amount: 53.43, payment_method_id: 'credit_card_3577130' },
        { transaction_type: 'payment', amount: 53.43, payment_method_id: 'gift_card_3749819' },
        { transaction_type: 'refund', amount: 53.43, payment_method_id: 'credit_card_3577130' },
      ]);
      expect(db.user('omar_kim_3528')!.payment_methods.gift_card_3749819!.balance).toBe(37.57);
      expect(call(db, 'get_user_details', { user_id: 'omar_kim_3528' })).toContain('"balance": 37.57');
      expect(
        call(db, 'modify_pending_order_payment', {
          order_id: '#W1080318',
          payment_method_id: 'credit_card_3577130',
        }),
      ).toBe('Error: there should be exactly one payment for a pending order');
      expect(
        call(fresh(), 'modify_pending_order_payment', {
          order_id: '#W1080318',
          payment_method_id: 'credit_card_3577130',
        }),
      ).toBe('Error: the new payment method should be different from the current one');
    });

    it('modify_pending_order_address / modify_user_address replace the address', () => {
      const db = fresh();
      const address = {
        address1: '1 A St',
        address2: '',
        city: 'Austin',
        state: 'TX',
        country: 'USA',
        zip: '78701',
      };
      expect(
        json(call(db, 'modify_pending_order_address', { order_id: '#W1080318', ...address })).address,
      ).toEqual(address);
      expect(call(db, 'modify_pending_order_address', { order_id: '#W2611340', ...address })).toBe(
        'Error: non-pending order cannot be modified',
      );
      expect(
        json(call(db, 'modify_user_address', { user_id: 'noah_brown_6181', ...address })).address,
      ).toEqual(address);
      expect(call(db, 'modify_user_address', { user_id: 'nobody', ...address })).toBe(
        'Error: user not found',
      );
    });

    it('return_delivered_order_items: sorted return items, refund to the original method or a gift card', () => {
      const db = fresh();
      const o = json(
        call(db, 'return_delivered_order_items', {
          order_id: '#W4817420',
          item_ids: ['9624127908', '6777246137'],
          payment_method_id: 'gift_card_8168843',
        }),
      );
      expect(o).toMatchObject({
        status: 'return requested',
        return_items: ['6777246137', '9624127908'],
        return_payment_method_id: 'gift_card_8168843',
      });
      expect(
        call(fresh(), 'return_delivered_order_items', {
          order_id: '#W4817420',
          item_ids: ['1'],
          payment_method_id: 'gift_card_8168843',
        }),
      ).toBe('Error: some item not found');
      expect(
        call(fresh(), 'return_delivered_order_items', {
          order_id: '#W4817420',
          item_ids: [],
          payment_method_id: 'paypal_1',
        }),
      ).toBe('Error: payment method not found');
      expect(
        call(db, 'return_delivered_order_items', {
          order_id: '#W4817420',
          item_ids: [],
          payment_method_id: 'gift_card_8168843',
        }),
      ).toBe('Error: non-delivered order cannot be returned');
    });

    it('exchange_delivered_order_items: records the exchange with the rounded price difference', () => {
      const db = fresh();
      const args = {
        order_id: '#W6304490',
        item_ids: ['6956751343'],
        new_item_ids: ['6843647669'],
        payment_method_id: 'credit_card_4420174',
      };
      expect(json(call(db, 'exchange_delivered_order_items', args))).toMatchObject({
        status: 'exchange requested',
        exchange_items: ['6956751343'],
        exchange_new_items: ['6843647669'],
        exchange_payment_method_id: 'credit_card_4420174',
        exchange_price_difference: -36.96,
      });
      expect(call(db, 'exchange_delivered_order_items', args)).toBe(
        'Error: non-delivered order cannot be exchanged',
      );
      expect(call(fresh(), 'exchange_delivered_order_items', { ...args, new_item_ids: [] })).toBe(
        'Error: the number of items to be exchanged should match',
      );
    });

    it('calculate, think and transfer_to_human_agents', () => {
      const db = fresh();
      expect(call(db, 'calculate', { expression: '(3 + 4.5) * 2' })).toBe('15.0');
      expect(call(db, 'think', { thought: 'check the order status first' })).toBe('');
      expect(call(db, 'transfer_to_human_agents', { summary: 'wants a refund in cash' })).toBe(
        'Transfer successful',
      );
      expect(db.hash()).toBe(fresh().hash());
    });
  });

  it('the database hash ignores key order and sees every field; the base data never changes', () => {
    const a = fresh();
    const b = fresh();
    const order = b.editOrder('#W2611340');
    const { status, ...rest } = order;
    for (const k of Object.keys(order)) delete order[k];
    Object.assign(order, rest, { status });
    expect(b.hash()).toBe(a.hash());
    b.editUser('noah_brown_6181').email = 'x@example.com';
    expect(b.hash()).not.toBe(a.hash());
    expect(canonicalJson({ b: 1, a: [2, { d: 3, c: 4 }] })).toBe('{"a":[2,{"c":4,"d":3}],"b":1}');
    expect(() => {
      (data.users.noah_brown_6181 as { email: string }).email = 'y';
    }).toThrow(TypeError);
  });

  describe('environment, policy SOP and scripted user', () => {
    const step = (env: RetailEnv, s: ToolAgentStep) => env.step(s);
    const tool = (name: string, args: Record<string, unknown>): ToolAgentStep => ({
      action: { kind: 'tool_call', call: { id: 'c', name, arguments: args } },
    });
    const say = (text: string): ToolAgentStep => ({ action: { kind: 'reply', text } });

    it('the SOP loads with every tool; authenticate first, a yes before each write, one user', () => {
      const sop = retailSop();
      expect(sop.stateName(sop.initialMask)).toBe('unauthenticated');
      const env = new RetailEnv(data, keyOrder);
      const task = splits.dev[0]!; // olivia_ito_3591: cancel #W5442520
      env.reset(task, 1);
      expect(step(env, tool('get_order_details', { order_id: '#W5442520' })).observation?.content).toMatch(
        /^Error: not allowed by the retail policy: authenticate the user first/,
      );
      expect(
        step(env, tool('find_user_id_by_name_zip', { first_name: 'Olivia', last_name: 'Ito', zip: '80218' }))
          .observation?.content,
      ).toBe('olivia_ito_3591');
      expect(env.sopState().state).toBe('authenticated');
      const cancel = tool('cancel_pending_order', { order_id: '#W5442520', reason: 'no longer needed' });
      const blocked = step(env, cancel);
      expect(blocked.info).toMatchObject({ sopViolation: true, blocked: true });
      expect(blocked.observation?.content).toMatch(/explicit "yes"/);
      expect(step(env, tool('get_order_details', { order_id: '#W2611340' })).observation?.content).toBe(
        'Error: not allowed by the retail policy: this conversation is about user olivia_ito_3591 only',
      );
      expect(
        step(env, tool('find_user_id_by_email', { email: 'noah.brown7922@example.com' })).info.blocked,
      ).toBe(true);
      expect(step(env, say('Hello!')).observation?.content).toBe(
        'My name is Olivia Ito and my zip code is 80218. I want to cancel order #W5442520. The reason: no longer needed.',
      );
      expect(
        step(env, say('Shall I cancel order #W5442520 because it is no longer needed (yes/no)?')).observation
          ?.content,
      ).toBe('Yes, please go ahead.');
      expect(env.sopState().state).toBe('confirmed');
      expect(step(env, cancel).info.blocked).toBe(false);
      const last = step(env, say('Done, the order is cancelled.'));
      expect(last.done).toBe(true);
      expect(last.reward).toBe(1);
      expect(env.episode('manual')).toMatchObject({
        sopViolations: 4,
        endReason: 'done',
        details: { databaseMatches: true },
      });
    });

    it("record mode runs what the SOP refuses (as upstream) and counts it; the user says no to another order's change", () => {
      const env = new RetailEnv(data, keyOrder, { sopEnforcement: 'record', patience: 2 });
      env.reset(splits.dev[0]!, 1);
      const r = step(
        env,
        tool('cancel_pending_order', { order_id: '#W5442520', reason: 'no longer needed' }),
      );
      expect(r.info).toMatchObject({ sopViolation: true, blocked: false });
      expect(env.database().order('#W5442520')!.status).toBe('cancelled');
      expect(step(env, say('What is your email?')).observation?.content).toBe(
        "I don't remember my email. My name is Olivia Ito and my zip code is 80218.",
      );
      expect(step(env, say('How can I help?')).observation?.content).toBe(
        'I want to cancel order #W5442520. The reason: no longer needed.',
      );
      expect(step(env, say('Shall I cancel order #W2611340 (yes/no)?')).observation?.content).toMatch(
        /^No, that is not what I asked for/,
      );
      const left = step(env, say('Hmm.'));
      expect(left).toMatchObject({ done: true, info: { endReason: 'user_left' } });
      expect(left.reward).toBe(1); // the database matches even though the agent broke the policy
    });

    it('pass^k over repeated trials separates the baselines (dev split)', async () => {
      const env = new RetailEnv(data, keyOrder);
      const items = splits.dev.map((t, i) => ({ id: `dev-${i}`, item: t }));
      const rule = summarizePolicy(
        'rule',
        await runPolicyTrials(env, items, retailPolicies().get('rule'), { trials: 2, seed: 3 }),
        2,
        3,
      );
      expect(rule.passHatK).toEqual([1, 1]);
      const hasty = summarizePolicy(
        'hasty',
        await runPolicyTrials(env, items, retailPolicies().get('hasty'), { trials: 2, seed: 3 }),
        2,
        3,
      );
      expect(hasty.passHatK).toEqual([0.05, 0.05]); // only the task with no gold action
      expect(hasty.sopViolationsPerEpisode).toBeGreaterThan(1);
      expect(() => retailPolicies().get('smart')).toThrow(/valid: hasty, oracle, rule/);
    });

    it('episodes are deterministic for a seed', async () => {
      const env = new RetailEnv(data, keyOrder);
      const run = async (seed: number) => {
        env.reset(splits.train[7]!, seed);
        return runToolEpisode(env, retailPolicies().get('rule').create(env.privileged()));
      };
      expect(await run(4)).toEqual(await run(4));
    });
  });

  describe('CLI', () => {
    it('gopo taubench replay writes task-NNN.json with the final {users, orders, products}', async () => {
      const out = await fs.mkdtemp(path.join(os.tmpdir(), 'gopo-replay-'));
      const { ctx, output } = testCliContext({ dataDir });
      const code = await taubenchReplayCommand.run(
        { tasks: retailTaskFile(dataDir!, 'dev'), out, taskIds: '0,2-3', format: 'text' },
        ctx,
      );
      expect(code).toBe(0);
      expect((await fs.readdir(out)).sort()).toEqual(['task-000.json', 'task-002.json', 'task-003.json']);
      const db = JSON.parse(await fs.readFile(path.join(out, 'task-000.json'), 'utf8'));
      expect(Object.keys(db)).toEqual(['users', 'orders', 'products']);
      expect(db.orders['#W5442520'].status).toBe('cancelled');
      expect(Object.keys(db.orders)).toHaveLength(1000);
      expect(output.join('\n')).toMatch(/3 of 20 tasks written/);
      await fs.rm(out, { recursive: true });
    });

    it('a malformed task file is named with file, line and field', async () => {
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gopo-tasks-'));
      const file = path.join(dir, 'tasks.json');
      await fs.writeFile(
        file,
        '[\n  {\n    "user_id": "x",\n    "instruction": "hi",\n    "actions": [{ "name": "think" }]\n  }\n]\n',
      );
      const { ctx } = testCliContext({ dataDir });
      const err = await Promise.resolve()
        .then(() => taubenchReplayCommand.run({ tasks: file, out: dir, format: 'text' }, ctx))
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RetailDataError);
      expect((err as Error).message).toBe(
        `${file}:5 at [0].actions[0].kwargs: Invalid input: expected record, received undefined`,
      );
      await fs.rm(dir, { recursive: true });
    });

    it('gopo eval-policy reports reward, 100% success and pass^k, and writes the episodes', async () => {
      const { ctx, output } = testCliContext({ dataDir });
      const out = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'gopo-eval-')), 'episodes.jsonl');
      await evalToolPolicies(
        {
          env: 'taubench-retail',
          policy: ['rule'],
          trials: 1,
          split: 'dev',
          goals: 'multiwoz',
          count: 1,
          limit: 5,
          sop: 'block',
          format: 'text',
        },
        ctx,
      );
      expect(output[0]).toBe('taubench-retail: 5 dev tasks, 1 trial(s), seed 1');
      expect(output[1]).toMatch(/^rule {5}reward 1\.000 .* 100% success 100\.0% {2}pass\^1 1\.000 /);
      const w = testCliContext({ dataDir });
      await evalToolPolicies(
        {
          env: 'toolwoz',
          policy: ['greedy'],
          trials: 1,
          split: 'dev',
          goals: 'sampled',
          count: 20,
          sop: 'block',
          out,
          format: 'text',
        },
        w.ctx,
      );
      expect(w.output[0]).toBe('toolwoz: 20 sampled goals, 1 trial(s), seed 1');
      const lines = (await fs.readFile(out, 'utf8')).trim().split('\n');
      expect(lines).toHaveLength(20);
      const first = ToolEpisodeSchema.parse(JSON.parse(lines[0]!));
      expect(first).toMatchObject({ id: 'sampled-1-00000', env: 'toolwoz', agent: 'greedy' });
      expect(first.messages[0]!.role).toBe('user');
      await fs.rm(path.dirname(out), { recursive: true });
    });
  });
});
