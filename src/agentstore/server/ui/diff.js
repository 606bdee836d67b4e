// What changed from one state to the next: the paths added, changed and removed.

const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);

function same(a, b) {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const keysA = Object.keys(a);
  if (keysA.length !== Object.keys(b).length) return false;
  return keysA.every((key) => Object.prototype.hasOwnProperty.call(b, key) && same(a[key], b[key]));
}

/** A path as it reads in JavaScript: data.tool_result["odd key"][0] */
export function pathText(path) {
  return path
    .map((part, index) => {
      if (typeof part === "number") return `[${part}]`;
      if (/^[A-Za-z_$][\w$]*$/.test(part)) return index ? `.${part}` : part;
      return `[${JSON.stringify(part)}]`;
    })
    .join("");
}

/**
 * The differences from `before` to `after`, each {path, kind, before, after} with kind
 * "added", "removed" or "changed"; at most `limit` of them (and whether some were left).
 */
export function diff(before, after, limit = 300) {
  const changes = [];
  let truncated = false;
  function walk(a, b, path) {
    if (changes.length >= limit) {
      truncated = true;
      return;
    }
    if (same(a, b)) return;
    if (isObject(a) && isObject(b)) {
      for (const key of Object.keys(b)) {
        if (!Object.prototype.hasOwnProperty.call(a, key)) {
          changes.push({ path: [...path, key], kind: "added", after: b[key] });
        } else walk(a[key], b[key], [...path, key]);
      }
      for (const key of Object.keys(a)) {
        if (!Object.prototype.hasOwnProperty.call(b, key)) {
          changes.push({ path: [...path, key], kind: "removed", before: a[key] });
        }
      }
      return;
    }
    if (Array.isArray(a) && Array.isArray(b)) {
      const common = Math.min(a.length, b.length);
      for (let index = 0; index < common; index += 1) walk(a[index], b[index], [...path, index]);
      for (let index = common; index < b.length; index += 1) {
        changes.push({ path: [...path, index], kind: "added", after: b[index] });
      }
      for (let index = common; index < a.length; index += 1) {
        changes.push({ path: [...path, index], kind: "removed", before: a[index] });
      }
      return;
    }
    changes.push({ path, kind: "changed", before: a, after: b });
  }
  walk(before, after, []);
  if (changes.length > limit) {
    changes.length = limit;
    truncated = true;
  }
  return { changes, truncated };
}

/** What a state's diff compares: what the reducer derived, not its position. */
export function derived(state) {
  return {
    data: state.data,
    tokens: state.tokens,
    tool_calls: state.tool_calls,
    errors: state.errors,
  };
}
