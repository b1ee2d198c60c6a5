/**
 * Kubernetes label selectors (matchLabels, matchExpressions with In, NotIn, Exists,
 * DoesNotExist), evaluated as the API server evaluates a webhook's namespaceSelector and
 * objectSelector; for `audit` to say why the webhook did not see a pod.
 */

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

/**
 * Why `labels` do not match `selector`: the first requirement they fail, in words; undefined
 * when they match. An empty or absent selector matches everything; a requirement this code
 * does not know fails (as the API server would refuse it).
 */
export function selectorMismatch(selector: unknown, labels: Readonly<Record<string, string>>): string | undefined {
  if (!isRecord(selector)) return undefined;
  const has = (key: string) => Object.prototype.hasOwnProperty.call(labels, key);
  if (isRecord(selector['matchLabels'])) {
    for (const [key, value] of Object.entries(selector['matchLabels'])) {
      if (labels[key] !== value || !has(key)) return has(key) ? `label ${key} is "${labels[key] ?? ''}", not "${String(value)}"` : `label ${key}="${String(value)}" is missing`;
    }
  }
  for (const expression of Array.isArray(selector['matchExpressions']) ? selector['matchExpressions'] : []) {
    if (!isRecord(expression)) continue;
    const key = String(expression['key'] ?? '');
    const values = strings(expression['values']);
    const value = labels[key];
    switch (expression['operator']) {
      case 'In':
        if (!has(key) || !values.includes(value ?? '')) return has(key) ? `label ${key} is "${value ?? ''}", not one of ${values.join(', ')}` : `label ${key} is missing (must be one of ${values.join(', ')})`;
        break;
      case 'NotIn':
        if (has(key) && values.includes(value ?? '')) return `label ${key} is "${value ?? ''}"`;
        break;
      case 'Exists':
        if (!has(key)) return `label ${key} is missing`;
        break;
      case 'DoesNotExist':
        if (has(key)) return `label ${key} is set${value === '' ? '' : ` ("${value ?? ''}")`}`;
        break;
      default:
        return `selector operator ${String(expression['operator'])} is not known`;
    }
  }
  return undefined;
}
