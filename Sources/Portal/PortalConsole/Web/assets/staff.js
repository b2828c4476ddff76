// The staff area: members, adding one (the enrolment link shown once), roles, disable/enable, reset, unlock.
import { api, el, formatDate, showError, startPage } from './console.js';

const ROLES = ['administrator', 'reviewer', 'auditor'];
const BADGES = { active: 'badge-ok', enrolling: 'badge-warn', locked: 'badge-bad', disabled: 'badge-bad' };
const message = document.getElementById('message');
let me = null;

function showLink(answer) {
  document.getElementById('link-who').textContent = `${answer.member.displayName} (${answer.member.username})`;
  document.getElementById('link-until').textContent = formatDate(answer.expiresAt);
  document.getElementById('link').textContent = answer.link;
  const card = document.getElementById('link-card');
  card.classList.remove('hidden');
  card.querySelector('h2').setAttribute('tabindex', '-1');
  card.querySelector('h2').focus();
}

async function act(promise, after) {
  message.replaceChildren();
  try {
    const answer = await promise;
    if (after) after(answer);
    await load();
  } catch (error) {
    showError(message, error);
  }
}

function row(member) {
  const path = `/api/staff/${encodeURIComponent(member.username)}`;
  const role = el('select', { 'aria-label': `Role of ${member.username}` },
    ROLES.map((name) => el('option', { value: name, selected: name === member.role }, name)));
  // A button, not the select's change event: arrowing through the options by keyboard must not change anything.
  const saveRole = el('button', { type: 'button', class: 'button' }, 'Save role');
  saveRole.addEventListener('click', () => act(api('POST', `${path}/role`, { role: role.value })));
  const buttons = [];
  const button = (label, onClick) => {
    const node = el('button', { type: 'button', class: 'button' }, label);
    node.addEventListener('click', onClick);
    buttons.push(node);
  };
  if (member.status === 'disabled') button('Enable', () => act(api('POST', `${path}/enable`)));
  else if (member.username !== me) button('Disable', () => act(api('POST', `${path}/disable`)));
  if (member.status === 'locked') button('Unlock', () => act(api('POST', `${path}/unlock`)));
  button('Reset', () => {
    if (window.confirm(`Clear ${member.username}'s password and second factors and make a new enrolment link?`)) {
      act(api('POST', `${path}/reset`), showLink);
    }
  });
  const status = el('span', { class: `badge ${BADGES[member.status] || ''}` }, member.status);
  const detail = member.status === 'enrolling' && member.enrolmentExpiresAt
    ? el('div', { class: 'muted' }, `link until ${formatDate(member.enrolmentExpiresAt)}`) : null;
  return el('tr', {},
    el('td', {}, member.username),
    el('td', {}, member.displayName, member.email ? el('div', { class: 'muted' }, member.email) : null),
    el('td', {}, el('div', { class: 'actions' }, role, saveRole)),
    el('td', {}, status, detail),
    el('td', {}, el('div', { class: 'actions' }, buttons)));
}

async function load() {
  const answer = await api('GET', '/api/staff');
  document.getElementById('members').replaceChildren(...answer.staff.map(row));
}

document.getElementById('add-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target;
  await act(api('POST', '/api/staff', {
    username: document.getElementById('new-username').value.trim(),
    displayName: document.getElementById('new-name').value.trim(),
    email: document.getElementById('new-email').value.trim(),
    role: document.getElementById('new-role').value,
  }), (answer) => {
    form.reset();
    showLink(answer);
  });
});

document.getElementById('copy-link').addEventListener('click', async () => {
  try {
    await navigator.clipboard.writeText(document.getElementById('link').textContent);
  } catch {
    showError(message, { message: 'The browser did not allow copying; select the link and copy it by hand.' });
  }
});

(async () => {
  try {
    const { staff } = await startPage({ area: 'staff', permission: 'manageStaff' });
    me = staff.username;
    await load();
  } catch (error) {
    if (error && error.code !== 'signed-out' && error.code !== 'forbidden') showError(message, error);
  }
})();
