// The overview: what the member's role lets them open.
import { allowedAreas, el, showError, startPage } from './console.js';

const DESCRIPTIONS = {
  patients: 'Register patients, invite them to the portal, unlock their accounts.',
  review: 'Held batches waiting for a decision: approve, reject or reassign.',
  analytics: 'What kiosks and the portal received and found, over time.',
  fleet: 'Kiosks and workers: last seen, health, audit segments.',
  audit: 'Search the audit trail, verify its chain, per-patient access reports.',
  staff: 'Members of staff: add, roles, disable, reset, unlock.',
};

(async () => {
  const main = document.querySelector('main');
  try {
    const { staff } = await startPage({ area: 'home', permission: null });
    document.getElementById('greeting').textContent = `Signed in as ${staff.displayName}, ${staff.role}.`;
    document.getElementById('areas').replaceChildren(...allowedAreas(staff.permissions)
      .filter((entry) => entry.area !== 'home')
      .map((entry) => el('li', { class: 'card' },
        el('h2', {}, el('a', { href: entry.href }, entry.label)),
        el('p', { class: 'muted' }, DESCRIPTIONS[entry.area] || ''))));
  } catch (error) {
    if (error && error.code !== 'signed-out') showError(main, error);
  }
})();
