/** The tests' model of the kubelet's expansion, checked against the cases Kubernetes documents for it. */
import t from 'tap';
import { kubeletExpand, kubeletProcess } from '../helpers/kubelet.js';

const env: Record<string, string> = { VAR_A: 'A', VAR_B: 'B', EMPTY: '' };
const lookup = (name: string) => env[name];

t.test('kubeletExpand follows the kubelet\'s rules', async (t) => {
  const cases: Array<[string, string]> = [
    ['$(VAR_A)', 'A'],
    ['___$(VAR_B)___', '___B___'],
    ['$(VAR_A)-$(VAR_B)', 'A-B'],
    ['$(EMPTY)x', 'x'],
    ['$(UNKNOWN)', '$(UNKNOWN)'],
    ['$$(VAR_A)', '$(VAR_A)'],
    ['$$$(VAR_A)', '$A'],
    ['$$$$', '$$'],
    ['$VAR_A', '$VAR_A'],
    ['${VAR_A}', '${VAR_A}'],
    ['$(VAR_A', '$(VAR_A'],
    ['$($(VAR_A)', '$($(VAR_A)', ],
    ['cost 5$', 'cost 5$'],
    ['$', '$'],
    ['', ''],
  ];
  for (const [input, expected] of cases) t.equal(kubeletExpand(input, lookup), expected, input);
  t.strictSame(kubeletProcess({ command: ['/bin/echo', '$(VAR_A)'], args: ['$$(VAR_B)'] }, lookup), ['/bin/echo', 'A', '$(VAR_B)']);
});
