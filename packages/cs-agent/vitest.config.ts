import { gopoProject } from '../../vitest.shared.ts';

export default gopoProject('cs-agent');
