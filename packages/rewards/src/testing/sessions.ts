import { type Session, type SessionInput, SessionSchema } from '@gopo/dialogue';

type EventName = NonNullable<SessionInput['turns'][number]['events']>[number]['type'];

/** A user turn with the given events. */
export function user(events: EventName[] = []): SessionInput['turns'][number] {
  return { role: 'user', text: '...', events: events.map((type) => ({ type })) };
}

export interface AgentOptions {
  readonly events?: EventName[];
  readonly ranking?: string[];
  readonly reference?: string;
  readonly acceptable?: string[];
  readonly violation?: boolean;
  readonly detected?: string;
}

export function agent(strategy: string, o: AgentOptions = {}): SessionInput['turns'][number] {
  return {
    role: 'agent',
    text: '...',
    strategy,
    events: (o.events ?? []).map((type) => ({ type })),
    ...(o.ranking ? { ranking: o.ranking } : {}),
    ...(o.reference ? { reference: { strategy: o.reference, acceptable: o.acceptable ?? [] } } : {}),
    ...(o.violation !== undefined ? { sop_violation: o.violation } : {}),
    ...(o.detected ? { detected_strategy: o.detected } : {}),
  };
}

/** A validated session from the pieces tests care about. */
export function session(
  goal: Session['goal']['type'],
  turns: SessionInput['turns'],
  outcome: Partial<SessionInput['outcome']> = {},
  id = 's',
): Session {
  return SessionSchema.parse({
    session_id: id,
    goal: { type: goal },
    turns,
    outcome: { status: 'failure', ...outcome },
  });
}
