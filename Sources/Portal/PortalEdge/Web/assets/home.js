// My uploads: the patient's batches with their state in plain words.
import { t, tn } from './i18n.js';
import { get, del, isSignedOut } from './api.js';
import { boot, showError, el, $, go, formatBytes, formatTimestamp, announce } from './ui.js';
import { UploadStore } from './tus.js';

function batchItem(batch) {
  const label = batch.label || t('home.batchLabel', { date: formatTimestamp(batch.createdAt) });
  const item = el('li', {},
    el('h3', {}, el('a', { href: `/batch.html?id=${encodeURIComponent(batch.id)}`, text: label })),
    el('p', {}, el('span', { class: 'state', text: t(`state.${batch.state}`) })),
    el('p', { text: t(`state.${batch.state}.explain`) }),
  );
  if (Number.isInteger(batch.files)) {
    item.append(el('p', { text: t('home.batchSize', { files: tn('common.files', batch.files), size: formatBytes(batch.bytes || 0) }) }));
  }
  if (batch.submittedAt) item.append(el('p', { text: t('home.submittedAt', { date: formatTimestamp(batch.submittedAt) }) }));
  if (batch.state === 'open') {
    const actions = el('div', { class: 'actions' },
      el('a', { class: 'button', href: `/upload.html?batch=${encodeURIComponent(batch.id)}`, text: t('home.continue') }));
    const abandon = el('button', { type: 'button', class: 'secondary', text: t('home.abandon') });
    abandon.addEventListener('click', async () => {
      if (!window.confirm(t('home.abandonConfirm'))) return;
      try {
        await del(`/api/batches/${encodeURIComponent(batch.id)}`);
        new UploadStore(batch.id).clear();
        announce(t('home.abandoned'));
        item.remove();
      } catch (error) {
        if (isSignedOut(error)) go('/');
        else showError($('#page-error'), error);
      }
    });
    actions.append(abandon);
    item.append(actions);
  }
  return item;
}

async function main() {
  const session = await boot({ requireSignedIn: true });
  $('#home-title').textContent = session.patient ? t('home.title', { name: session.patient.displayName }) : t('home.titleNoName');
  try {
    const { batches } = await get('/api/batches');
    $('#batches-loading').hidden = true;
    $('#batches-empty').hidden = batches.length > 0;
    $('#batches').replaceChildren(...batches.map(batchItem));
    // Upload URLs kept for batches that are no longer open (submitted from another tab, or the
    // tab closed between the last chunk and the redirect) are of no further use.
    const open = new Set(batches.filter((batch) => batch.state === 'open').map((batch) => batch.id));
    for (const id of UploadStore.batchesWithUploads()) if (!open.has(id)) new UploadStore(id).clear();
  } catch (error) {
    $('#batches-loading').hidden = true;
    if (isSignedOut(error)) go('/');
    else showError($('#page-error'), error);
  }
}

main();
