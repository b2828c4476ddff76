// The message catalogue: every string a patient sees comes from assets/messages/en.json.
// Pages mark elements with data-i18n="key" (text) or data-i18n-attr="attribute:key; attribute:key".

let catalogue = {};

export async function loadMessages(url = '/assets/messages/en.json') {
  const response = await fetch(url, { credentials: 'same-origin' });
  if (!response.ok) throw new Error(`message catalogue ${url}: HTTP ${response.status}`);
  catalogue = await response.json();
  return catalogue;
}

export function has(key) {
  return Object.prototype.hasOwnProperty.call(catalogue, key);
}

// Named placeholders: "{count} images" with { count: 3 }. Unknown placeholders stay visible so a
// missing parameter shows up in review instead of silently vanishing.
export function format(template, params = {}) {
  return template.replace(/\{([A-Za-z0-9_]+)\}/g, (whole, name) =>
    Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : whole);
}

export function t(key, params) {
  if (!has(key)) return key;
  return format(catalogue[key], params);
}

// Counted phrases use "key.one" and "key.other".
export function tn(key, count, params = {}) {
  return t(`${key}.${count === 1 ? 'one' : 'other'}`, { count: formatNumber(count), ...params });
}

export function formatNumber(n) {
  return new Intl.NumberFormat(document.documentElement.lang || 'en').format(n);
}

export function applyMessages(root = document) {
  for (const element of root.querySelectorAll('[data-i18n]')) {
    element.textContent = t(element.dataset.i18n);
  }
  for (const element of root.querySelectorAll('[data-i18n-attr]')) {
    for (const pair of element.dataset.i18nAttr.split(';')) {
      const [attribute, key] = pair.split(':').map((part) => part.trim());
      if (attribute && key) element.setAttribute(attribute, t(key));
    }
  }
}
